"""Layout of a figure in the house style (package-private): the claims table under the axes,
legends below their panels or shared by the figure, the suptitle's room.

:func:`kdtheory.plotting.finish_figure` uses these; text only, no extra axes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

from matplotlib.container import Container  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from kdtheory._plotstyle import OKABE_ITO, claim_value_text, verdict  # noqa: E402
from kdtheory.claims import REPORTED_NOTE  # noqa: E402

LEGEND_FONTSIZE = 8.0


# --------------------------------------------------------------------------- claims table
TABLE_FONTSIZE = 8.0
_ROW_IN = 1.5 * TABLE_FONTSIZE / 72
_VERDICT_COLOR = {
    "holds": "#1a1a1a",
    "fails": OKABE_ITO["vermillion"],
    "inconclusive": "#5a5a5a",
}


def _premise_rows(group: Sequence) -> list[tuple[str, str, str, str, str]]:
    """One row per distinct premise of a claim's checks: met or not, its value, its statement."""
    from kdtheory.claims import distinct_premises
    from kdtheory.formatting import format_estimate

    return [
        (
            "",
            "premise met" if p.met else "premise not met",
            format_estimate(p.value, p.ci),
            p.statement,
            "holds" if p.met else "inconclusive",
        )
        for p in distinct_premises(group)
    ]


def claim_rows(claims: Sequence, max_rows: int = 8) -> list[tuple[str, str, str, str, str]]:
    """Rows ``(claim, verdict, value [95% CI], check, verdict word)`` of the table under a figure.

    One row per check when there are at most ``max_rows`` checks; otherwise one row per claim id
    (its verdict on the run, :func:`kdtheory.claims.combined_verdict`, the counts, and the
    checks' statements) followed by its checks that do not hold. Each claim's premises follow
    its rows (met or not met, with the number that decided it).
    """
    from kdtheory.claims import checks_by_id, combined_verdict, verdict_counts

    claims = list(claims)
    rows = []
    for cid, group in checks_by_id(claims).items():
        if len(claims) <= max_rows:
            rows += [(c.id, verdict(c), claim_value_text(c), c.statement, c.verdict) for c in group]
        else:
            word = combined_verdict(group)
            counts = verdict_counts(group)
            reported = "" if any(c.asserted for c in group) else ", reported"
            held = sum(c.verdict == "holds" for c in group)
            n, rest = len(group), len(group) - held
            checks = f"{n} check{'s' if n > 1 else ''} of {cid}"
            summary = (
                f"{checks}: {'the one' if rest == 1 else f'the {rest}'} that "
                f"{'does' if rest == 1 else 'do'} not hold below; all statements in "
                "paper_figures/README.md"
                if rest
                else f"{checks}, all hold (statements in paper_figures/README.md)"
            )
            rows.append((cid, word + reported, counts, summary, word))
            rows += [
                ("", verdict(c), claim_value_text(c), c.statement, c.verdict)
                for c in group
                if c.verdict != "holds"
            ]
        rows += _premise_rows(group)
    return rows


#: font size of the note under the table, and a conservative width of its characters (0.6 em)
_NOTE_FONTSIZE = TABLE_FONTSIZE - 1
_NOTE_CHAR_IN = 0.6 * _NOTE_FONTSIZE / 72


def note_lines(width_in: float, left_in: float = 0.2) -> list[str]:
    """The note on what "inconclusive" and "reported" mean, wrapped to a figure ``width_in``
    inches wide: every line of it, however narrow the figure (never cut)."""
    return textwrap.wrap(REPORTED_NOTE, max(int((width_in - 2 * left_in) / _NOTE_CHAR_IN), 20))


def table_height(n_lines: int, width_in: float = 8.4) -> float:
    """Height in inches of a claims table of ``n_lines`` text lines (its rows, each as many
    lines as its wrapped check takes: :func:`table_layout`) in a figure ``width_in`` inches wide
    (header, rules, and the note on what the verdicts mean, :func:`note_lines`)."""
    if not n_lines:
        return 0.0
    return 0.17 + (n_lines + 1.8 + len(note_lines(width_in))) * _ROW_IN


_HEADER = ("claim", "verdict", "value [95% CI]", "check (full statements: paper_figures/README.md)")


def _table_columns(fig, rows, width_in: float, left_in: float):
    """Left edges (inches) of the first three columns, measured on the rendered cells, the
    check column's left edge, and how many characters fit in the check column."""
    renderer = fig.canvas.get_renderer()
    cols = list(zip(*([_HEADER[:3]] + [r[:3] for r in rows]), strict=True))
    col_x, cur = [], left_in
    for col in cols:
        col_x.append(cur)
        widest = 0.0
        for text in col:
            t = fig.text(0, 0, text, fontsize=TABLE_FONTSIZE, weight="bold")
            widest = max(widest, t.get_window_extent(renderer).width / fig.dpi)
            t.remove()
        cur += widest + 0.25
    probe = fig.text(0, 0, "abcdefghij klmnopqrs tuvwxyz 0123", fontsize=TABLE_FONTSIZE)
    char_in = probe.get_window_extent(renderer).width / fig.dpi / len(probe.get_text())
    probe.remove()
    return col_x, cur, max(int((width_in - cur - left_in) / char_in), 20)


class TableLayout(NamedTuple):
    """Where a claims table's cells go: the left edges (inches) of the claim, verdict and value
    columns and of the check column, and each row's check wrapped into lines (header first)."""

    col_x: list
    check_x: float
    lines: list

    @property
    def n_lines(self) -> int:
        """Text lines of the rows, header included: what :func:`table_height` counts."""
        return sum(map(len, self.lines))


def table_layout(fig, rows, width_in: float | None = None, left_in: float = 0.2) -> TableLayout:
    """Measure a claims table once: the columns on the rendered cells, and each row's check
    statement wrapped to the check column (never cut short; each line measured to fit)."""
    width_in = fig.get_size_inches()[0] if width_in is None else width_in
    col_x, check_x, n_chars = _table_columns(fig, rows, width_in, left_in)
    room = width_in - check_x - left_in
    renderer = fig.canvas.get_renderer()

    def fits(line: str) -> bool:
        t = fig.text(0, 0, line, fontsize=TABLE_FONTSIZE)
        wide = t.get_window_extent(renderer).width / fig.dpi
        t.remove()
        return wide <= room

    out = []
    for r in [_HEADER, *rows]:
        text, n = " ".join(r[3].split()), n_chars
        lines = textwrap.wrap(text, n) or [""]
        while n > 20 and not all(map(fits, lines)):  # the average character was too narrow
            n -= 2
            lines = textwrap.wrap(text, n)
        out.append(lines)
    return TableLayout(col_x, check_x, out)


def draw_claims_table(
    fig, rows, *, top_in: float, left_in: float = 0.2, layout: TableLayout | None = None
) -> list:
    """Draw ``rows`` (:func:`claim_rows`) as a table whose top edge lies ``top_in`` inches above
    the bottom of ``fig``; returns the artists. Text only (no axes): columns aligned by measuring
    the rendered cells, each check statement wrapped over as many lines as it needs
    (``layout``: :func:`table_layout`'s measurement, when the caller has it already)."""
    width_in, height_in = fig.get_size_inches()
    layout = table_layout(fig, rows, width_in, left_in) if layout is None else layout
    col_x, check_x, wrapped = layout
    fs = TABLE_FONTSIZE

    def y(i: int) -> float:  # baseline of line i (0 = header) in figure fraction
        return (top_in - 0.06 - (i + 0.8) * _ROW_IN) / height_in

    def x(inches: float) -> float:
        return inches / width_in

    artists = []
    line = 0
    for i, (row, lines) in enumerate(zip([(*_HEADER, "holds"), *rows], wrapped, strict=True)):
        bold = i == 0
        for j, (cx, text) in enumerate(zip([*col_x, check_x], (*row[:3], lines[0]), strict=True)):
            color = _VERDICT_COLOR[row[4]] if (j == 1 and not bold) else "#1a1a1a"
            emphasis = j == 1 and row[4] != "holds"
            weight = "bold" if bold or emphasis or (j == 0 and text) else "normal"
            artists.append(
                fig.text(
                    x(cx), y(line), text, fontsize=fs, color=color, weight=weight, va="baseline"
                )
            )
        for k, more in enumerate(lines[1:], start=1):
            artists.append(
                fig.text(x(check_x), y(line + k), more, fontsize=fs, color="#1a1a1a", va="baseline")
            )
        line += len(lines)
    for k, text in enumerate(note_lines(width_in, left_in)):
        artists.append(
            fig.text(
                x(left_in),
                y(line + k) - 0.15 * _ROW_IN / height_in,
                text,
                fontsize=_NOTE_FONTSIZE,
                color="#3a3a3a",
                style="italic",
                va="baseline",
            )
        )
    for yy in (top_in - 0.04, top_in - 0.06 - (0.15 + len(wrapped[0])) * _ROW_IN):
        rule = Line2D(
            [x(left_in), x(width_in - left_in)],
            [yy / height_in] * 2,
            transform=fig.transFigure,
            color="0.35",
            lw=0.6,
        )
        fig.add_artist(rule)
        artists.append(rule)
    return artists


# --------------------------------------------------------------------------- legends
def wrap_title(text: str, fig, fontsize: float, width_in: float) -> str:
    renderer = fig.canvas.get_renderer()
    t = fig.text(0, 0, text, fontsize=fontsize)
    full = t.get_window_extent(renderer).width / fig.dpi
    t.remove()
    if full <= width_in:
        return text
    chars = max(int(len(text) * width_in / full * 0.97), 20)
    return "\n".join(textwrap.wrap(text, chars))


def fit_legend_columns(fig, renderer) -> None:
    """Recreate each :func:`legend_below` legend with the most columns that fit its panel."""
    for ax in fig.axes:
        leg = ax.get_legend()
        house = getattr(leg, "_house", None)
        if house is None:
            continue
        spec = ax.get_subplotspec()
        if spec is not None:  # a panel's share of the figure's width, less a gap
            grid = spec.get_gridspec()
            share = (spec.colspan.stop - spec.colspan.start) / grid.ncols
            limit = fig.bbox.width * share - 0.3 * fig.dpi
        else:
            limit = ax.bbox.width
        for ncol in range(min(len(house["labels"]), house["ncol"] or 3), 0, -1):
            new = ax.legend(
                house["handles"],
                house["labels"],
                ncols=ncol,
                bbox_to_anchor=(0.5, 0.0),
                bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-0.5, units="inches"),
                **house["kwargs"],
            )
            new._house = house
            if new.get_window_extent(renderer).width <= limit or ncol == 1:
                break


def place_legends_below(fig, renderer) -> None:
    for ax in fig.axes:
        leg = ax.get_legend()
        if getattr(leg, "_house", None) is None:
            continue
        bb = ax.xaxis.get_tightbbox(renderer)
        depth = (ax.bbox.y0 - bb.y0) / fig.dpi if bb is not None else 0.3
        leg.set_bbox_to_anchor(
            (0.5, 0.0),
            transform=offset_copy(ax.transAxes, fig=fig, y=-(depth + 0.08), units="inches"),
        )


def below_legend_height(fig, renderer) -> float:
    """Inches the legends below the panels need: the tallest per row of panels, summed."""
    per_row: dict[int, float] = {}
    for ax in fig.axes:
        leg = ax.get_legend()
        spec = ax.get_subplotspec()
        if getattr(leg, "_house", None) is None or spec is None:
            continue
        h = leg.get_window_extent(renderer).height / fig.dpi + 0.12
        row = spec.rowspan.stop
        per_row[row] = max(per_row.get(row, 0.0), h)
    return sum(per_row.values())


def shared_legend(fig, handles, labels, loc: str, ncol, width_in: float, renderer):
    opts = {"frameon": False, "fontsize": LEGEND_FONTSIZE, "columnspacing": 1.5}
    if loc == "right":
        return fig.legend(handles, labels, loc="center right", ncols=ncol or 1, **opts)
    anchor = "upper center" if loc == "top" else "lower center"
    for n in range(ncol or len(labels), 0, -1):
        leg = fig.legend(handles, labels, loc=anchor, ncols=n, **opts)
        if ncol or leg.get_window_extent(renderer).width / fig.dpi <= width_in - 0.3 or n == 1:
            return leg
        leg.remove()
    return None


def collect_handles(fig) -> tuple[list, list]:
    """Entries of the shared legend: the keys panels offered (:func:`add_key`), and the labelled
    artists of panels without a legend of their own; the first of each label."""
    handles, labels = [], []
    for ax in fig.axes:
        keys = ax.__dict__.get("_house_keys")
        if keys is None:
            own = ax.get_legend() is not None
            keys = [] if own else list(zip(*ax.get_legend_handles_labels(), strict=True))
        for h, lab in keys:
            if lab and not lab.startswith("_") and lab not in labels:
                handles.append(h)
                labels.append(lab)
    order = sorted(range(len(handles)), key=lambda i: not isinstance(handles[i], Container))
    return [handles[i] for i in order], [labels[i] for i in order]
