"""Imagenette as arrays: load any copy of it (with a decoded-array cache), or download the archive.

Imagenette is fast.ai's 10-class subset of ImageNet. :func:`load_imagenette` reads any folder laid
out as ``<root>/{train,val}/<wnid>/*.JPEG`` (the official archives, or the 64-pixel copy named by
``KDTHEORY_DATA``), decodes it with Pillow and caches the decoded arrays as an ``.npz`` file, so
that the second load takes a fraction of a second. :func:`download_imagenette` fetches and checks
the official archive. Pillow is imported only when images are decoded (the ``neural`` extra).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kdtheory.io import DATA_ENV_VAR, TEMP_SUFFIX, _user_cache_dir, _write_atomic
from kdtheory.neural import require

__all__ = [
    "IMAGENETTE_CLASSES",
    "IMAGENETTE_ARCHIVES",
    "IMAGE_EXTENSIONS",
    "load_imagenette",
    "download_imagenette",
]

#: WordNet id -> readable name of the 10 Imagenette classes, in wnid (label) order
IMAGENETTE_CLASSES: dict[str, str] = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}

_ARCHIVE_BASE = "https://s3.amazonaws.com/fast-ai-imageclas/"

#: shorter side in pixels (None: full size) -> (URL, MD5) of the official Imagenette archive
IMAGENETTE_ARCHIVES: dict[int | None, tuple[str, str]] = {
    160: (_ARCHIVE_BASE + "imagenette2-160.tgz", "e793b78cc4c9e9a4ccc0c1155377a412"),
    320: (_ARCHIVE_BASE + "imagenette2-320.tgz", "3df6f0d01a2c9592104656642f5e78a3"),
    None: (_ARCHIVE_BASE + "imagenette2.tgz", "fe2fc210e6bb7c5664d602c3cd71e612"),
}

#: file extensions (compared case-insensitively) listed as images; other files are ignored
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")

#: folder names looked for inside ``$KDTHEORY_DATA`` and the user cache folder, in this order
_FOLDER_NAMES = ("imagenette2-64", "imagenette2-160", "imagenette2-320", "imagenette2")
_SPLITS = ("train", "val")
_LAYOUT = "<root>/{train,val}/<wnid>/*.JPEG"
#: bump when the cached arrays change meaning (decoding, resizing), to invalidate old caches
_CACHE_VERSION = 1


def _layout_problem(folder: Path) -> str | None:
    """Why ``folder`` is not an Imagenette folder (None when it has ``train/`` and ``val/``)."""
    if not folder.is_dir():
        return "no such folder"
    missing = [s for s in _SPLITS if not (folder / s).is_dir()]
    if missing:
        return " and ".join(f"no folder {s!r}" for s in missing) + " in it"
    return None


def _find_root(root: str | os.PathLike[str] | None) -> Path:
    """The Imagenette folder: ``root`` if given, else the first one found (see load_imagenette)."""
    if root is not None:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"load_imagenette: root={str(folder)!r} is not a folder (no such folder); "
                f"expected an Imagenette folder laid out as {_LAYOUT}"
            )
        return folder
    candidates: list[tuple[str, Path]] = []
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        base = Path(env).expanduser()
        origin = f"from ${DATA_ENV_VAR}"
        candidates.append((origin, base / _FOLDER_NAMES[0]))
        candidates.append((origin, base))
        candidates += [(origin, base / name) for name in _FOLDER_NAMES[1:]]
    cache = _user_cache_dir()
    candidates += [("in the user cache folder", cache / name) for name in _FOLDER_NAMES]
    looked = [] if env else [f"  - the environment variable {DATA_ENV_VAR}: not set"]
    for origin, folder in candidates:
        why = _layout_problem(folder)
        if why is None:
            return folder
        looked.append(f"  - {folder} ({origin}): {why}")
    url = IMAGENETTE_ARCHIVES[160][0]
    raise FileNotFoundError(
        "kdtheory: Imagenette not found. Looked in:\n"
        + "\n".join(looked)
        + f"\nAn Imagenette folder (any resolution) is laid out as {_LAYOUT}. Provide one in any "
        "of these ways: pass it explicitly (load_imagenette(root=FOLDER)); "
        f"set {DATA_ENV_VAR}=FOLDER, where FOLDER holds imagenette2-64/ or is the Imagenette "
        f"folder itself; copy it into {cache} (as {', '.join(_FOLDER_NAMES)}); or download and "
        f"extract the official archive imagenette2-160.tgz ({url}) with "
        "kdtheory.neural.data.download_imagenette(160, dest) (dest defaults to the user cache "
        "folder)."
    )


def _is_image(entry: os.DirEntry) -> bool:
    name = entry.name  # hidden files (macOS's ._x.JPEG) are not images
    ext_ok = os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
    return ext_ok and not name.startswith(".") and entry.is_file()


def _is_stray(name: str) -> bool:
    """Folders an archiver or a file manager leaves beside the classes (``__MACOSX``,
    ``.ipynb_checkpoints``, ``.DS_Store``): never a class."""
    return name.startswith((".", "__"))


def _scan(folder: Path, keep) -> list[os.DirEntry]:
    """The entries of ``folder`` that ``keep`` accepts; a folder that cannot be read (a symbolic
    link loop, no permission) is a ValueError that names it."""
    try:
        with os.scandir(folder) as it:
            return [e for e in it if keep(e)]
    except OSError as err:
        hint = " (a symbolic link that points back to itself or a parent makes a loop)"
        loop = err.errno == errno.ELOOP
        raise ValueError(
            f"load_imagenette: cannot read {err.filename or folder}: {err.strerror}"
            f"{hint if loop else ''}"
        ) from err


def _class_folders(split_dir: Path) -> list[str]:
    """The class folders of one split: its sub-folders, stray ones left out, sorted."""
    return sorted(e.name for e in _scan(split_dir, lambda e: not _is_stray(e.name) and e.is_dir()))


def _check_splits_agree(folder: Path, split: str, wnids: list[str]) -> None:
    """Labels are indices into the sorted class folders, so every split must have the same
    ones: a class missing from one split would relabel the classes after it."""
    for other in _SPLITS:
        if other == split or not (folder / other).is_dir():
            continue
        theirs = _class_folders(folder / other)
        if theirs != wnids:
            only = sorted(set(wnids) - set(theirs))
            missing = sorted(set(theirs) - set(wnids))
            parts = [
                f"only in {split!r}: {', '.join(only)}" if only else "",
                f"only in {other!r}: {', '.join(missing)}" if missing else "",
            ]
            raise ValueError(
                f"load_imagenette: the splits of {folder} disagree on the classes "
                f"({'; '.join(p for p in parts if p)}); the labels index the sorted class "
                "folders, so both splits need the same ones"
            )


def _list_split(folder: Path, split: str):
    """Class folders (sorted wnids), image paths, labels and a signature of the files listed."""
    split_dir = folder / split
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"load_imagenette: no folder {split!r} in {folder}; expected an Imagenette folder "
            f"laid out as {_LAYOUT}"
        )
    wnids = _class_folders(split_dir)
    if not wnids:
        raise ValueError(
            f"load_imagenette: {split_dir} has no class sub-folders; expected one folder per "
            f"class (named by WordNet id, e.g. n01440764), as in {_LAYOUT}"
        )
    paths: list[str] = []
    labels: list[int] = []
    signature: list[tuple[str, int, int]] = []
    for label, wnid in enumerate(wnids):
        entries = sorted(_scan(split_dir / wnid, _is_image), key=lambda e: e.name)
        if not entries:
            raise ValueError(
                f"load_imagenette: class folder {split_dir / wnid} has no image files "
                f"({', '.join(IMAGE_EXTENSIONS)}, any case); expected {_LAYOUT}"
            )
        for entry in entries:
            stat = entry.stat()
            paths.append(entry.path)
            labels.append(label)
            signature.append((f"{wnid}/{entry.name}", stat.st_size, stat.st_mtime_ns))
    _check_splits_agree(folder, split, wnids)
    return wnids, paths, np.asarray(labels, dtype=np.int64), signature


def _check_size(size) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be None or an integer >= 1 (pixels), got size={size!r}")
    return int(size)


def _decode_one(image_module, path: str, size: int | None):
    """Decode ``path`` to an RGB uint8 array ((size, size, 3) if ``size``) or return the error."""
    try:
        with image_module.open(path) as opened:
            if size is not None and opened.format == "JPEG":
                opened.draft("RGB", (size, size))  # DCT scaling: never below the requested size
            image = opened.convert("RGB")  # Imagenette has grayscale and CMYK JPEGs
        if size is not None and image.size != (size, size):
            # Shorter side to `size`, centre crop: the centred square of side min(w, h), resized.
            w, h = image.size
            side = min(w, h)
            box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
            image = image.resize((size, size), image_module.Resampling.BICUBIC, box=box)
        return np.asarray(image, dtype=np.uint8), None
    except Exception as err:  # any decoding failure: the file is skipped and counted
        return None, f"{type(err).__name__}: {err}"


def _decode_all(paths: list[str], size: int | None, split_dir: Path):
    """Decode every path (2-4 threads); returns the images, a mask of decoded ones, the failures."""
    image_module = require("PIL.Image")
    images = None
    first = ""
    keep = np.zeros(len(paths), dtype=bool)
    failures: list[str] = []
    pool = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1)))
    try:
        decoded = pool.map(lambda p: _decode_one(image_module, p, size), paths)
        for i, (array, error) in enumerate(decoded):
            if array is None:
                failures.append(f"{paths[i]} ({error})")
                continue
            if images is None:
                images = np.empty((len(paths), *array.shape), dtype=np.uint8)
                first = paths[i]
            elif array.shape != images.shape[1:]:
                (h0, w0), (h1, w1) = images.shape[1:3], array.shape[:2]
                raise ValueError(
                    f"load_imagenette: the images in {split_dir} have different shapes, e.g. "
                    f"{first} is {h0}x{w0} (height x width) and {paths[i]} is {h1}x{w1}; pass "
                    "size= (e.g. size=64) to resize the shorter side and centre-crop them all "
                    "to size x size"
                )
            images[i] = array
            keep[i] = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if images is None:
        raise ValueError(
            f"load_imagenette: none of the {len(paths)} image files in {split_dir} could be "
            f"decoded; first failure: {failures[0]}"
        )
    return (images if keep.all() else images[keep]), keep, failures


def _warn_skipped(count: int, first: str, split_dir: Path) -> None:
    message = f"load_imagenette: skipped {count} file(s) in {split_dir} that could not be decoded"
    warnings.warn(f"{message} as images; the first: {first}", UserWarning, stacklevel=3)


def _cache_file(cache_dir, folder: Path, split: str, size: int | None, signature) -> Path:
    """Cache file name: ``imagenette-<split>-<size>-<hash of root>-<hash of the files>.npz``."""
    base = _user_cache_dir() / "imagenette" if cache_dir is None else Path(cache_dir).expanduser()
    key = json.dumps([_CACHE_VERSION, str(folder.resolve()), split, size])
    key_hash = hashlib.sha256(key.encode()).hexdigest()[:12]
    files_hash = hashlib.sha256(json.dumps(signature).encode()).hexdigest()[:16]
    tag = "full" if size is None else str(size)
    return base / f"imagenette-{split}-{tag}-{key_hash}-{files_hash}.npz"


def _read_cache(path: Path, classes: list[str]):
    """The cached (images, labels, skipped, first failure), or None if absent or damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
            cached_classes = [str(c) for c in data["classes"]]
            skipped, first = int(data["skipped"]), str(data["first_failure"])
    except Exception:  # truncated, not a zip, missing arrays...: decode again and rewrite it
        return None
    valid = images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3
    valid = valid and labels.dtype == np.int64 and labels.shape == images.shape[:1]
    valid = valid and cached_classes == classes
    return (images, labels, skipped, first) if valid else None


def _write_cache(path: Path, images, labels, classes, failures) -> None:
    arrays = {
        "images": images,
        "labels": labels,
        "classes": np.asarray(classes, dtype=str),
        "skipped": np.int64(len(failures)),
        "first_failure": np.asarray(failures[0] if failures else ""),
    }
    try:
        _write_atomic(path, "wb", lambda handle: np.savez(handle, **arrays))
        # Earlier caches of the same folder, split and size are stale: the files changed.
        for stale in path.parent.glob(path.name.rsplit("-", 1)[0] + "-*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as err:  # a read-only cache folder is no reason to fail
        message = f"load_imagenette: could not write the cache file {path} ({err}); the images"
        warnings.warn(f"{message} will be decoded again next time", UserWarning, stacklevel=3)


def load_imagenette(
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    size: int | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load one split of Imagenette as arrays.

    The folder is laid out as ``<root>/{train,val}/<wnid>/*.JPEG``: one sub-folder per class,
    named by WordNet id; the classes are the sorted sub-folders, and the images are ordered by
    class, then by file name, so the order is deterministic. Files with the extensions
    :data:`IMAGE_EXTENSIONS` (any case) are listed; one that Pillow cannot decode is skipped, and
    one warning counts them. Images are converted to RGB.

    The folder is looked up in this order: ``root`` (when given, the only place looked); then
    ``$KDTHEORY_DATA/imagenette2-64``, ``$KDTHEORY_DATA`` itself, and ``$KDTHEORY_DATA``'s
    ``imagenette2-160``, ``imagenette2-320``, ``imagenette2``; then the same four folder names in
    the user cache folder (``$XDG_CACHE_HOME/kdtheory``, by default ``~/.cache/kdtheory``). A
    folder found this way must have both ``train/`` and ``val/``.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The Imagenette folder (the one holding ``train/`` and ``val/``).
    split : {"train", "val"}
        Which split to load.
    size : int, optional
        Resize the shorter side to ``size`` pixels (bicubic) and crop the centre ``size x size``.
        Without it, every image must already have the same shape.
    cache_dir : str or os.PathLike, optional
        Folder of the decoded-array cache; default: ``imagenette`` in the user cache folder.
    use_cache : bool
        Read and write the cache: an uncompressed ``.npz`` keyed by the folder's absolute path,
        ``split``, ``size`` and the listed files' names, sizes and modification times, so that a
        changed folder is decoded again. A damaged cache file is ignored and rewritten.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, height, width, 3)
        RGB images.
    labels : numpy.ndarray of int64, shape (n,)
        Class indices into ``class_names``.
    class_names : list of str
        Readable names (:data:`IMAGENETTE_CLASSES`) in wnid order; a folder name that is not an
        Imagenette wnid is its own name.

    Raises
    ------
    FileNotFoundError
        If no Imagenette folder is found (the message says where it looked and how to provide
        one), or the folder has no ``split`` sub-folder.
    ValueError
        For a bad ``split`` or ``size``, a folder without class folders or image files, no
        decodable image, or images of different shapes without ``size``.
    ImportError
        If Pillow is needed (nothing cached) but not installed.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got split={split!r}")
    size = _check_size(size)
    folder = _find_root(root)
    wnids, paths, labels, signature = _list_split(folder, split)
    classes = [IMAGENETTE_CLASSES.get(wnid, wnid) for wnid in wnids]
    split_dir = folder / split
    cache_path = _cache_file(cache_dir, folder, split, size, signature) if use_cache else None
    if cache_path is not None:
        cached = _read_cache(cache_path, classes)
        if cached is not None:
            images, cached_labels, skipped, first = cached
            if skipped:
                _warn_skipped(skipped, first, split_dir)
            return images, cached_labels, classes
    images, keep, failures = _decode_all(paths, size, split_dir)
    labels = labels if keep.all() else labels[keep]
    if failures:
        _warn_skipped(len(failures), failures[0], split_dir)
    if cache_path is not None:
        _write_cache(cache_path, images, labels, classes, failures)
    return images, labels, classes


def download_imagenette(
    size: int | None = 160,
    dest: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    md5: str | None = None,
    progress: bool = True,
) -> Path:
    """Download, check and extract the official Imagenette archive.

    If ``dest/imagenette2-<size>`` already has ``train/`` and ``val/``, it is returned without
    downloading. Otherwise the archive is streamed to a temporary file in ``dest`` while its MD5
    is computed, checked, extracted into a temporary folder in ``dest``, checked for the layout
    ``imagenette2-<size>/{train,val}/``, and renamed into place, so ``dest`` never holds a partial
    folder. Temporary files are removed on any failure, including an interrupt.

    Parameters
    ----------
    size : {160, 320, None}
        Shorter side of the images in the archive; None for the full-size archive.
    dest : str or os.PathLike, optional
        Folder to extract into (created if missing); default: the user cache folder
        (``$XDG_CACHE_HOME/kdtheory``), where :func:`load_imagenette` finds it.
    url : str, optional
        Where to download from (any URL :func:`urllib.request.urlopen` reads, ``file://`` too);
        default: the official archive in :data:`IMAGENETTE_ARCHIVES`.
    md5 : str, optional
        Expected MD5 of the archive; default: the official archive's.
    progress : bool
        Show a progress bar (tqdm) when the download size is known.

    Returns
    -------
    pathlib.Path
        The extracted folder, ``dest/imagenette2-160`` for ``size=160``.

    Raises
    ------
    ValueError
        For a bad ``size``, an MD5 mismatch, or an archive without the expected layout.
    FileExistsError
        If the destination folder exists but is not an Imagenette folder.
    """
    if isinstance(size, bool) or size not in IMAGENETTE_ARCHIVES:
        raise ValueError(f"size must be one of 160, 320 or None (full size), got size={size!r}")
    size = None if size is None else int(size)
    name = "imagenette2" if size is None else f"imagenette2-{size}"  # the archive's top folder
    default_url, default_md5 = IMAGENETTE_ARCHIVES[size]
    url = default_url if url is None else url
    expected = (default_md5 if md5 is None else md5).lower()
    dest = Path(dest).expanduser() if dest is not None else _user_cache_dir()
    final = dest / name
    if _layout_problem(final) is None:
        return final
    if final.exists():
        raise FileExistsError(
            f"download_imagenette: {final} exists but is not an Imagenette folder "
            f"({_layout_problem(final)}); remove it and try again"
        )
    dest.mkdir(parents=True, exist_ok=True)
    archive_name = url.rstrip("/").rsplit("/", 1)[-1] or f"{name}.tgz"
    fd, archive = tempfile.mkstemp(dir=dest, prefix=f".{archive_name}.", suffix=TEMP_SUFFIX)
    extract_dir = None
    try:
        digest = _download(url, fd, archive_name, progress)
        if digest != expected:
            raise ValueError(
                f"download_imagenette: MD5 mismatch for {url}: expected {expected}, got {digest}; "
                "the download is corrupt or not the expected archive (deleted)"
            )
        extract_dir = tempfile.mkdtemp(dir=dest, prefix=f".{name}.", suffix=TEMP_SUFFIX)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(extract_dir, **safe)
        extracted = Path(extract_dir) / name
        why = _layout_problem(extracted)
        if why is not None:
            top = sorted(os.listdir(extract_dir))[:5]
            raise ValueError(
                f"download_imagenette: the archive {url} does not hold {name}/train and "
                f"{name}/val ({name}: {why}; top-level entries: {top})"
            )
        try:
            os.rename(extracted, final)
        except OSError:
            if _layout_problem(final) is not None:  # not another process finishing first
                raise
    finally:
        Path(archive).unlink(missing_ok=True)
        if extract_dir is not None:
            shutil.rmtree(extract_dir, ignore_errors=True)
    return final


def _download(url: str, fd: int, label: str, progress: bool) -> str:
    """Stream ``url`` into the open file ``fd`` (closed on return); returns the MD5 hex digest."""
    digest = hashlib.md5(usedforsecurity=False)
    with os.fdopen(fd, "wb") as handle, urllib.request.urlopen(url, timeout=60) as response:
        total = response.headers.get("Content-Length")
        bar = None
        if progress and total:
            from tqdm.auto import tqdm  # a dependency of kdtheory

            bar = tqdm(total=int(total), unit="B", unit_scale=True, desc=label)
        try:
            while chunk := response.read(1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return digest.hexdigest()
