"""A comparison (`Comparison`) as a table, JSON, CSV or markdown: one row per model, failures in the footer.

With an accuracy study (`onnxlayer.study`), every format adds each model's top-1 and the rank
correlations of the metrics with it: a second table under the table and markdown, a second
CSV block after a blank line, an `accuracy_study` object in the JSON.
"""
from __future__ import annotations

import csv
import io
from functools import partial
from typing import Any, Callable

from ..comparison import COLUMNS, CompareRow, Comparison
from ..result import json_text
from ..study import AccuracyStudy, MetricCorrelation
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


def _top1_text(study: AccuracyStudy, model: str) -> str:
    top1 = study.top1(model)
    return "-" if top1 is None else f"{top1:g}"


def correlation_cells(c: MetricCorrelation) -> list[str]:
    """metric, n, ρ, its interval, τ, its interval, and whether it is a baseline."""
    def interval(pair: tuple[float, float] | None) -> str:
        return "-" if pair is None else f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    def value(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    return [c.label, str(c.n), value(c.spearman), interval(c.spearman_interval), value(c.kendall),
            interval(c.kendall_interval), "baseline" if c.baseline else ""]


CORRELATION_HEADERS = ("metric", "n", "Spearman ρ", "95% interval", "Kendall τ", "95% interval", "role")


def study_notes(study: AccuracyStudy) -> list[str]:
    """What the correlation table rests on: the accuracy file, the models matched, the bootstrap."""
    lines = [f"accuracy: {len(study.matched)} models matched in {study.source or 'the accuracy table'}; "
             f"rank correlation of each metric with top-1, percentile bootstrap {study.confidence:.0%} intervals "
             f"({study.resamples} resamples, seed {study.seed}); W and MACs are the baselines to beat"]
    if study.unmatched_models:
        lines.append(f"no accuracy row: {', '.join(study.unmatched_models)}")
    if study.unused_rows:
        lines.append(f"rows matching no model: {len(study.unused_rows)}")
    return lines


def render_table(cmp: Comparison, leaf_width: int = 36, study: AccuracyStudy | None = None) -> str:
    leaf_col = [c.key for c in COLUMNS].index("bottleneck_leaf")
    rows = []
    for r in cmp.rows:
        cells = _cells(r)
        cells[leaf_col] = shorten(cells[leaf_col], leaf_width)
        rows.append(cells + ([_top1_text(study, r.model)] if study else []))
    headers = [c.header for c in COLUMNS] + (["top1"] if study else [])
    right = set(range(len(headers))) - {0, leaf_col}
    out = [text_table(headers, rows, right)] + _footer(cmp)
    if study:
        out += [""] + study_notes(study) + [""]
        out.append(text_table(CORRELATION_HEADERS, [correlation_cells(c) for c in study.correlations], {1, 2, 4}))
    return "\n".join(out) + "\n"


def render_markdown(cmp: Comparison, study: AccuracyStudy | None = None) -> str:
    headers = [c.header for c in COLUMNS] + (["top1"] if study else [])
    align = ["---" if c.key in ("model", "bottleneck_leaf") else "--:" for c in COLUMNS] + (["--:"] if study else [])
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    for r in cmp.rows:
        cells = [c.replace("|", "\\|") for c in _cells(r)] + ([_top1_text(study, r.model)] if study else [])
        if r.summary is None:
            cells[1] = "failed (see below)"
        out.append("| " + " | ".join(cells) + " |")
    out += _footer(cmp, bullet="- ")
    if study:
        out += [""] + [f"- {line}" for line in study_notes(study)] + [""]
        out += ["| " + " | ".join(CORRELATION_HEADERS) + " |", "|---|--:|--:|---|--:|---|---|"]
        out += ["| " + " | ".join(correlation_cells(c)) + " |" for c in study.correlations]
    return "\n".join(out) + "\n"


def render_csv(cmp: Comparison, study: AccuracyStudy | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in COLUMNS] + ["error"] + (["top1"] if study else []))
    for r in cmp.rows:
        d = r.to_dict()
        top1 = [] if study is None else ["" if study.top1(r.model) is None else study.top1(r.model)]
        w.writerow([r.model] + ["" if d[c.key] is None else d[c.key] for c in COLUMNS[1:]] + [r.error or ""] + top1)
    if study:  # a second table after a blank line: one row per metric
        w.writerow([])
        w.writerow(["metric", "n", "spearman", "spearman_low", "spearman_high", "kendall", "kendall_low",
                    "kendall_high", "baseline"])
        for c in study.correlations:
            rho, tau = c.spearman_interval or ("", ""), c.kendall_interval or ("", "")
            w.writerow([c.metric, c.n, "" if c.spearman is None else c.spearman, *rho,
                        "" if c.kendall is None else c.kendall, *tau, c.baseline])
    return buf.getvalue()


def render(cmp: Comparison, fmt: str = "table", study: AccuracyStudy | None = None) -> str:
    """The comparison in `fmt` (one of FORMATS), with the accuracy study's columns if one is given."""
    if fmt == "json":
        if study is None:
            return cmp.to_json() + "\n"
        return json_text({**cmp.to_dict(), "accuracy_study": study.to_dict()}) + "\n"
    if fmt == "csv":
        return render_csv(cmp, study)
    if fmt == "markdown":
        return render_markdown(cmp, study)
    return render_table(cmp, study=study)
