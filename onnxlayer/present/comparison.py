"""A comparison (`Comparison`) as a table, JSON, CSV or markdown: one row per model, failures in the footer."""
from __future__ import annotations

import csv
import io
from functools import partial
from typing import Any, Callable

from ..comparison import COLUMNS, CompareRow, Comparison
from .tables import fmt_float, shorten, text_table

FORMATS = ("table", "csv", "json", "markdown")

#: Compare-table floats: 3 digits, scientific from a billion (wider than the report's 1e7).
_num = partial(fmt_float, digits=3, sci_above=1e9)


def _big(n: int | None) -> str:
    """Counts: exact below a billion, then three significant digits."""
    if n is None:
        return "-"
    return f"{n:,}" if abs(n) < 10**9 else f"{n:.3e}"


def _bits(x: float | None) -> str:
    return "-" if x is None else (f"{x:,.0f}" if abs(x) < 1e9 else f"{x:.4e}")


#: How each column's value is written in the table and markdown (CSV and JSON keep the raw value).
CELL_TEXT: dict[str, Callable[[Any], str]] = {
    "model": str,
    "complexity_bits": _bits,
    "complexity_log10_regions": _bits,
    "intrinsic_power": _num,
    "intrinsic_power_mean": _num,
    "input_dim": _big,
    "output_dim": _big,
    "depth": _big,
    "units": _big,
    "params": _big,
    "macs": _big,
    "bottleneck_dim": _big,
    "bottleneck_leaf": lambda v: "-" if v is None else str(v),
    "vc_bound": lambda v: "-" if v is None else f"{v:.3e}",
    "opaque_leaves": _big,
}


def _cells(row: CompareRow) -> list[str]:
    if row.summary is None:
        return [row.model] + ["-"] * (len(COLUMNS) - 1)
    return [row.model] + [CELL_TEXT[c.key](c.value(row.summary)) for c in COLUMNS[1:]]


def _footer(cmp: Comparison, bullet: str = "") -> list[str]:
    lines = []
    settings = f"tolerance ε = {cmp.settings['tolerance']:g}, domain B = {cmp.settings['domain']:g}"
    lines.append(f"{bullet}settings: {settings}; C in bits, P and P̄ in log2 units, D0 and dims per sample")
    for r in cmp.failed:
        lines.append(f"{bullet}FAILED {r.model}: {r.error}")
    for w in cmp.warnings:
        lines.append(f"{bullet}warning: {w}")
    return [""] + lines


def render_table(cmp: Comparison, leaf_width: int = 36) -> str:
    leaf_col = [c.key for c in COLUMNS].index("bottleneck_leaf")
    rows = []
    for r in cmp.rows:
        cells = _cells(r)
        cells[leaf_col] = shorten(cells[leaf_col], leaf_width)
        rows.append(cells)
    right = set(range(len(COLUMNS))) - {0, leaf_col}
    return "\n".join([text_table([c.header for c in COLUMNS], rows, right)] + _footer(cmp)) + "\n"


def render_markdown(cmp: Comparison) -> str:
    headers = [c.header for c in COLUMNS]
    align = ["---" if c.key in ("model", "bottleneck_leaf") else "--:" for c in COLUMNS]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    for r in cmp.rows:
        cells = [c.replace("|", "\\|") for c in _cells(r)]
        if r.summary is None:
            cells[1] = "failed (see below)"
        out.append("| " + " | ".join(cells) + " |")
    out += _footer(cmp, bullet="- ")
    return "\n".join(out) + "\n"


def render_csv(cmp: Comparison) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in COLUMNS] + ["error"])
    for r in cmp.rows:
        d = r.to_dict()
        w.writerow([r.model] + ["" if d[c.key] is None else d[c.key] for c in COLUMNS[1:]] + [r.error or ""])
    return buf.getvalue()


def render(cmp: Comparison, fmt: str = "table") -> str:
    """The comparison in `fmt` (one of FORMATS)."""
    if fmt == "json":
        return cmp.to_json() + "\n"
    if fmt == "csv":
        return render_csv(cmp)
    if fmt == "markdown":
        return render_markdown(cmp)
    return render_table(cmp)
