"""Imagenette loading and download (kdtheory.neural.data) on tiny synthetic folders."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")

from kdtheory.io import DATA_ENV_VAR  # noqa: E402
from kdtheory.neural.data import (  # noqa: E402
    IMAGENETTE_ARCHIVES,
    IMAGENETTE_CLASSES,
    download_imagenette,
    load_imagenette,
)

WNIDS = ("n01440764", "n02102040", "n02979186")
NAMES = ["tench", "English springer", "cassette player"]
HEIGHT, WIDTH = 20, 24


def _make_tree(root: Path, *, broken: bool = True, seed: int = 0) -> Path:
    """``root/{train,val}/<wnid>/``: 2 RGB JPEGs, 1 grayscale JPEG, 1 RGB PNG, 1 text file."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for wnid in WNIDS:
            folder = root / split / wnid
            folder.mkdir(parents=True)
            rgb = [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(3)]
            gray = rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
            Image.fromarray(rgb[0]).save(folder / "img0.JPEG", quality=90)
            Image.fromarray(rgb[1]).save(folder / "img1.jpg", quality=90)
            Image.fromarray(gray, mode="L").save(folder / "img2.JPEG", quality=90)
            Image.fromarray(rgb[2]).save(folder / "img3.png")
            (folder / "notes.txt").write_text("not an image, not listed")
    if broken:
        (root / "train" / WNIDS[0] / "broken.JPEG").write_bytes(b"this is text, not a JPEG")
    return root


@pytest.fixture
def env(no_data_env):
    """No KDTHEORY_DATA and an empty user cache folder (tests/conftest.py)."""
    return no_data_env


@pytest.fixture
def tree(tmp_path, env):
    return _make_tree(tmp_path / "data" / "imagenette2-64")


@pytest.fixture
def opens(monkeypatch):
    """Count calls of Pillow's ``Image.open``."""
    calls = []
    real_open = Image.open

    def counting_open(*args, **kwargs):
        calls.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    return calls


def _load(*args, **kwargs):
    """load_imagenette, also returning the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load_imagenette(*args, **kwargs)
    return (*result, [w for w in caught if issubclass(w.category, UserWarning)])


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def test_shapes_labels_names_and_order(tree):
    images, labels, names, caught = _load(tree, "val", use_cache=False)
    assert caught == []
    assert images.shape == (12, HEIGHT, WIDTH, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))
    assert names == NAMES == [IMAGENETTE_CLASSES[w] for w in WNIDS]
    # by class, then file name: img0.JPEG, img1.jpg, img2.JPEG (grayscale), img3.png (lossless)
    for k, wnid in enumerate(WNIDS):
        png = np.asarray(Image.open(tree / "val" / wnid / "img3.png").convert("RGB"))
        np.testing.assert_array_equal(images[4 * k + 3], png)
        gray = images[4 * k + 2]
        assert (gray == gray[..., :1]).all()  # grayscale: three equal channels
    again = load_imagenette(tree, "val", use_cache=False)
    np.testing.assert_array_equal(again[0], images)
    np.testing.assert_array_equal(again[1], labels)


def test_cmyk_and_rgba_are_converted_to_rgb(tree):
    rgb = np.full((HEIGHT, WIDTH, 3), 200, dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tree / "val" / WNIDS[0] / "z_cmyk.JPEG")
    Image.fromarray(rgb).convert("RGBA").save(tree / "val" / WNIDS[0] / "z_rgba.png")
    images, labels, _ = load_imagenette(tree, "val", use_cache=False)
    assert images.shape == (14, HEIGHT, WIDTH, 3) and np.bincount(labels).tolist() == [6, 4, 4]
    assert np.abs(images[4:6].astype(int) - 200).max() <= 3


def test_unknown_class_folder_keeps_its_name(tree):
    for split in ("train", "val"):
        (tree / split / WNIDS[2]).rename(tree / split / "zebra")
    _, _, names = load_imagenette(tree, "val", use_cache=False)
    assert names == ["tench", "English springer", "zebra"]


def test_size_resizes_shorter_side_and_crops_centre(tree):
    images, labels, _ = load_imagenette(tree, "val", 16, use_cache=False)
    assert images.shape == (12, 16, 16, 3) and images.dtype == np.uint8 and len(labels) == 12
    # shorter side already 20: a centre crop of the 24 columns (2 each side)
    cropped, _, _ = load_imagenette(tree, "val", HEIGHT, use_cache=False)
    full, _, _ = load_imagenette(tree, "val", use_cache=False)
    assert cropped.shape == (12, HEIGHT, HEIGHT, 3)
    diff = np.abs(cropped.astype(int) - full[:, :, 2:22].astype(int))
    assert diff.max() <= 1


def test_mixed_shapes_need_size(tree):
    big = np.zeros((30, 30, 3), dtype=np.uint8)
    Image.fromarray(big).save(tree / "val" / WNIDS[1] / "zz_big.png")
    with pytest.raises(ValueError, match=r"different shapes.*size="):
        load_imagenette(tree, "val", use_cache=False)
    images, labels, _ = load_imagenette(tree, "val", 8, use_cache=False)
    assert images.shape == (13, 8, 8, 3) and np.bincount(labels).tolist() == [4, 5, 4]


@pytest.mark.parametrize("size", [0, -3, 2.5, "64", True])
def test_bad_size(tree, size):
    with pytest.raises(ValueError, match="size"):
        load_imagenette(tree, "val", size, use_cache=False)


def test_bad_split(tree):
    with pytest.raises(ValueError, match="split"):
        load_imagenette(tree, "test", use_cache=False)


def test_broken_file_is_skipped_with_one_warning(tree, tmp_path):
    images, labels, _, caught = _load(tree, "train", cache_dir=tmp_path / "c")
    assert images.shape[0] == len(labels) == 12
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 1 file" in message and str(tree / "train" / WNIDS[0] / "broken.JPEG") in message
    # loaded from the cache: the same warning again
    cached, _, _, caught = _load(tree, "train", cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(cached, images)
    assert len(caught) == 1 and "skipped 1 file" in str(caught[0].message)


def test_no_decodable_image(tmp_path, env):
    folder = tmp_path / "bad" / "val" / WNIDS[0]
    folder.mkdir(parents=True)
    (folder / "a.JPEG").write_bytes(b"no")
    (tmp_path / "bad" / "train" / WNIDS[0]).mkdir(parents=True)
    with pytest.raises(ValueError, match="none of the 1 image files"):
        load_imagenette(tmp_path / "bad", "val", use_cache=False)


def test_pillow_missing_names_the_extra(tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r"kdtheory\[neural\]"):
        load_imagenette(tree, "val", use_cache=False)


def test_import_without_pillow():
    code = "import sys; sys.modules['PIL'] = None; import kdtheory.neural.data"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# The decoded-array cache
# ---------------------------------------------------------------------------------------------


def test_cache_is_used_and_invalidated(tree, tmp_path, opens):
    cache = tmp_path / "cache"
    images, labels, names = load_imagenette(tree, "val", cache_dir=cache)
    assert len(opens) == 12
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob(".*"))
    opens.clear()
    cached = load_imagenette(tree, "val", cache_dir=cache)
    assert opens == []  # nothing decoded
    np.testing.assert_array_equal(cached[0], images)
    np.testing.assert_array_equal(cached[1], labels)
    assert cached[1].dtype == np.int64 and cached[2] == names
    # a touched file invalidates the cache; the stale cache file is removed
    path = tree / "val" / WNIDS[1] / "img1.jpg"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = load_imagenette(tree, "val", cache_dir=cache)
    assert len(opens) == 12
    np.testing.assert_array_equal(again[0], images)
    assert len(list(cache.glob("*.npz"))) == 1
    # so does an added file
    Image.fromarray(images[0]).save(tree / "val" / WNIDS[2] / "new.png")
    more, more_labels, _ = load_imagenette(tree, "val", cache_dir=cache)
    assert more.shape[0] == 13 and more_labels[-1] == 2
    # other splits and sizes get their own cache files
    load_imagenette(tree, "val", 8, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2


def test_damaged_cache_is_rewritten(tree, tmp_path, opens):
    cache = tmp_path / "cache"
    images, _, _ = load_imagenette(tree, "val", cache_dir=cache)
    (cache_file,) = cache.glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # truncated
    opens.clear()
    again, _, _ = load_imagenette(tree, "val", cache_dir=cache)
    assert len(opens) == 12
    np.testing.assert_array_equal(again, images)
    opens.clear()
    load_imagenette(tree, "val", cache_dir=cache)
    assert opens == []


def test_default_cache_folder_and_use_cache_false(tree, env):
    load_imagenette(tree, "val", use_cache=False)
    assert not env.exists()
    load_imagenette(tree, "val")
    assert len(list((env / "imagenette").glob("imagenette-val-*.npz"))) == 1


# ---------------------------------------------------------------------------------------------
# Where the data is looked for
# ---------------------------------------------------------------------------------------------


def test_explicit_root_is_the_only_place_looked(tree, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(tree.parent))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_imagenette(tmp_path / "missing", "val", use_cache=False)


def test_env_var_parent_folder(tree, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(tree.parent))  # holds imagenette2-64/
    expected = load_imagenette(tree, "val", use_cache=False)
    found = load_imagenette(split="val", use_cache=False)
    np.testing.assert_array_equal(found[0], expected[0])


def test_env_var_names_the_folder_itself(tree, tmp_path, monkeypatch):
    folder = tree.rename(tmp_path / "my-imagenette")
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    images, _, names = load_imagenette(split="val", use_cache=False)
    assert images.shape[0] == 12 and names == NAMES


def test_user_cache_folder(tmp_path, env):
    _make_tree(env / "imagenette2-160")
    images, _, _ = load_imagenette(split="val", use_cache=False)
    assert images.shape == (12, HEIGHT, WIDTH, 3)


def test_nothing_found_says_how_to_provide_it(tmp_path, env, monkeypatch):
    partial = tmp_path / "partial" / "imagenette2-64"
    (partial / "train").mkdir(parents=True)
    monkeypatch.setenv(DATA_ENV_VAR, str(partial.parent))
    with pytest.raises(FileNotFoundError) as info:
        load_imagenette(split="val")
    message = str(info.value)
    assert "imagenette2-160.tgz" in message and "<root>/{train,val}/<wnid>/*.JPEG" in message
    assert "root=" in message and DATA_ENV_VAR in message and "download_imagenette" in message
    assert str(partial) in message and "no folder 'val'" in message
    assert str(env / "imagenette2-64") in message and "no such folder" in message


def test_root_without_val(tmp_path, env):
    root = _make_tree(tmp_path / "root")
    for path in sorted((root / "val").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "val").rmdir()
    with pytest.raises(FileNotFoundError, match=r"no folder 'val'.*<wnid>"):
        load_imagenette(root, "val", use_cache=False)


def test_split_without_class_folders(tmp_path, env):
    (tmp_path / "root" / "val").mkdir(parents=True)
    (tmp_path / "root" / "val" / "a.JPEG").write_bytes(b"")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_imagenette(tmp_path / "root", "val", use_cache=False)


def test_class_folder_without_images(tree):
    empty = tree / "val" / "n03000684"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"n03000684 has no image files"):
        load_imagenette(tree, "val", use_cache=False)


@pytest.mark.parametrize("split", ["train", "val"])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_splits_that_disagree_on_the_classes_are_an_error(tree, split, which):
    """A class missing from one split would shift the labels of every class after it."""
    other = "val" if split == "train" else "train"
    gone = tree / other / WNIDS[which]
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    with pytest.raises(ValueError, match=rf"disagree on the classes \(only in '{split}': "):
        load_imagenette(tree, split, use_cache=False)
    (tree / other / "n09999999").mkdir()
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(tree / other / "n09999999/a.png")
    with pytest.raises(ValueError, match=rf"only in '{other}': n09999999"):
        load_imagenette(tree, split, use_cache=False)


@pytest.mark.parametrize("stray", ["__MACOSX", ".ipynb_checkpoints", "__pycache__"])
def test_stray_folders_are_not_classes(tree, stray):
    baseline = load_imagenette(tree, "val", use_cache=False)
    for split in ("train", "val"):
        folder = tree / split / stray
        folder.mkdir()
        (folder / "._img0.JPEG").write_bytes(b"resource fork")
        Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(folder / "x.png")
    images, labels, names = load_imagenette(tree, "val", use_cache=False)
    assert names == baseline[2] == NAMES
    np.testing.assert_array_equal(labels, baseline[1])
    np.testing.assert_array_equal(images, baseline[0])


@pytest.mark.parametrize("where", ["class", "split"])
def test_a_symlink_loop_is_named(tree, where):
    if where == "class":
        (tree / "val" / "n09999999").symlink_to("n09999999")
    else:
        (tree / "val" / WNIDS[0] / "loop.JPEG").symlink_to("loop.JPEG")
    with pytest.raises(ValueError, match=r"cannot read .*(loop|symbolic)"):
        load_imagenette(tree, "val", use_cache=False)


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path):
    """A tiny ``imagenette2-160.tgz`` and its MD5."""
    _make_tree(tmp_path / "src" / "imagenette2-160", broken=False)
    path = tmp_path / "imagenette2-160.tgz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tmp_path / "src" / "imagenette2-160", arcname="imagenette2-160")
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_download_extracts_and_reuses(archive, tmp_path, env):
    path, md5 = archive
    dest = tmp_path / "dest"
    folder = download_imagenette(160, dest, url=path.as_uri(), md5=md5, progress=False)
    assert folder == dest / "imagenette2-160"
    assert sorted(p.name for p in dest.iterdir()) == ["imagenette2-160"]  # no temporary files
    images, _, names = load_imagenette(folder, "val", use_cache=False)
    assert images.shape == (12, HEIGHT, WIDTH, 3) and names == NAMES
    missing = (tmp_path / "no-such-archive.tgz").as_uri()
    again = download_imagenette(160, dest, url=missing, md5=md5, progress=False)
    assert again == folder


def test_download_md5_mismatch_leaves_nothing(archive, tmp_path, env):
    path, md5 = archive
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match=rf"expected 0+, got {md5}"):
        download_imagenette(160, dest, url=path.as_uri(), md5="0" * 32, progress=False)
    assert list(dest.iterdir()) == []


def test_download_archive_without_layout(tmp_path, env):
    (tmp_path / "src" / "other" / "train").mkdir(parents=True)
    path = tmp_path / "other.tgz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tmp_path / "src" / "other", arcname="other")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="does not hold imagenette2-320/train"):
        download_imagenette(320, dest, url=path.as_uri(), md5=md5, progress=False)
    assert list(dest.iterdir()) == []


def test_download_interrupted_leaves_nothing(archive, tmp_path, env, monkeypatch):
    path, md5 = archive

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tarfile.TarFile, "extractall", interrupt)
    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        download_imagenette(160, dest, url=path.as_uri(), md5=md5, progress=False)
    assert list(dest.iterdir()) == []


def test_download_bad_arguments(tmp_path, env):
    with pytest.raises(ValueError, match="size"):
        download_imagenette(64, tmp_path)
    (tmp_path / "imagenette2-160").mkdir()
    with pytest.raises(FileExistsError, match="not an Imagenette folder"):
        download_imagenette(160, tmp_path)
    assert IMAGENETTE_ARCHIVES[160][0].endswith("/imagenette2-160.tgz")


# ---------------------------------------------------------------------------------------------
# The shared 64-pixel copy (KDTHEORY_DATA), when present
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = os.environ.get(DATA_ENV_VAR)
    if not base or not (Path(base) / "imagenette2-64" / "train").is_dir():
        pytest.skip(f"no Imagenette copy at ${DATA_ENV_VAR}/imagenette2-64")
    cache = tmp_path_factory.mktemp("imagenette-cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = {s: load_imagenette(split=s, cache_dir=cache) for s in ("train", "val")}
    return splits, [w for w in caught if issubclass(w.category, UserWarning)]


def test_shared_copy(shared):
    splits, caught = shared
    assert caught == []
    for split, n in (("train", 9469), ("val", 3925)):
        images, labels, names = splits[split]
        assert images.shape == (n, 64, 64, 3) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert set(np.unique(labels).tolist()) == set(range(10))
        assert np.all(np.diff(labels) >= 0)
        assert names == list(IMAGENETTE_CLASSES.values())
