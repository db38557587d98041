"""An analysis (`AnalysisResult`) as a table, JSON, CSV or markdown, optionally grouped by name scope."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from ..result import AnalysisResult, LeafResult, json_text
from .tables import display_width, fmt_float, fmt_int, pad, text_table

FORMATS = ("table", "json", "csv", "markdown")

LEAF_COLUMNS = ("name", "op_type", "kind", "exact", "scope", "d_in", "d_out", "rank_cap", "units", "pieces",
                "complexity_bits", "intrinsic_power", "ambient_ratio", "redundancy", "params", "macs")


@dataclass(frozen=True)
class Aggregate:
    scope: str
    leaves: int
    complexity_bits: float
    units: int
    params: int
    macs: int
    d_in: int
    d_out: int


def group_by_scope(result: AnalysisResult, depth: int | None) -> list[Aggregate]:
    """Sum leaves by name scope, truncated to `depth` components (None: full scope)."""
    groups: dict[str, list[LeafResult]] = {}
    for leaf in result.leaves:
        parts = [p for p in leaf.scope.split("/") if p]
        key = "/".join(parts[:depth] if depth is not None else parts) or "(root)"
        groups.setdefault(key, []).append(leaf)
    out = []
    for key, leaves in groups.items():
        out.append(Aggregate(key, len(leaves), sum(l.complexity_bits for l in leaves), sum(l.units for l in leaves),
                             sum(l.params for l in leaves), sum(l.macs for l in leaves), leaves[0].d_in, leaves[-1].d_out))
    return out


def top_leaves(result: AnalysisResult, top: int) -> list[LeafResult]:
    """The `top` leaves of largest complexity (leaves with none left out), in the report's order."""
    return sorted((l for l in result.leaves if l.complexity_bits > 0), key=lambda l: -l.complexity_bits)[:top]


def summary_lines(result: AnalysisResult) -> list[tuple[str, str]]:
    s = result.summary
    b = s.bottleneck
    return [
        ("model", result.model.path or result.model.graph_name or "(in memory)"),
        ("producer / opset", f"{result.model.producer or '?'} / {result.model.opset}"),
        ("settings", f"tolerance ε = {result.settings['tolerance']:g}, domain B = {result.settings['domain']:g}"),
        ("leaves", f"{s.leaves} ({s.nonlinear_leaves} nonlinear, {s.opaque_leaves} opaque)"),
        ("complexity C", f"{fmt_float(s.complexity_bits)} bits (log10 regions {fmt_float(s.complexity_log10_regions)})"),
        ("intrinsic power P", f"{fmt_float(s.intrinsic_power)}  (log2 of output d / D0)"),
        ("mean intrinsic power P̄", f"{fmt_float(s.intrinsic_power_mean)}  (mean log2 d_in / D0 over nonlinear leaves)"),
        ("input dim D0 / output dim", f"{fmt_int(s.input_dim)} / {fmt_int(s.output_dim)}"),
        ("nonlinear depth L", str(s.depth)),
        ("units U", fmt_int(s.units)),
        ("params W", fmt_int(s.params)),
        ("MACs", fmt_int(s.macs)),
        ("bottleneck", "-" if b is None else f"d = {fmt_int(b.dim)} at {b.leaf or 'input'} ({b.tensor})"),
        ("VC bound", fmt_float(s.vc_bound, 6) if s.vc_bound is not None else f"n/a ({s.vc_bound_reason})"),
    ]


def render_table(result: AnalysisResult, top: int = 10, group_by: int | None | bool = False) -> str:
    width = max(display_width(k) for k, _ in summary_lines(result))
    out = [f"{pad(k, width)}  {v}" for k, v in summary_lines(result)]
    if group_by is not False:
        aggs = group_by_scope(result, group_by)
        out += ["", f"by scope{'' if group_by is None else f' (depth {group_by})'}:"]
        out.append(text_table(("scope", "leaves", "C bits", "units", "params", "MACs", "d_in", "d_out"),
                              ([a.scope, str(a.leaves), fmt_float(a.complexity_bits, 2), fmt_int(a.units),
                                fmt_int(a.params), fmt_int(a.macs), fmt_int(a.d_in), fmt_int(a.d_out)] for a in aggs),
                              right=set(range(1, 8))))
    ranked = top_leaves(result, top)
    if ranked:
        out += ["", f"top {len(ranked)} leaves by complexity:"]
        out.append(text_table(("leaf", "op", "kind", "d_in", "d_out", "units×pieces", "C bits", "P"),
                              ([l.name, l.op_type, l.kind, fmt_int(l.d_in), fmt_int(l.d_out),
                                " + ".join(f"{fmt_int(g.units)}×{g.pieces}" for g in l.groups),
                                fmt_float(l.complexity_bits, 2), fmt_float(l.intrinsic_power, 3)] for l in ranked),
                              right={3, 4, 6, 7}))
    if result.warnings:
        out += ["", "warnings:"] + [f"  - {w}" for w in result.warnings]
    return "\n".join(out) + "\n"


def _leaf_row(leaf: LeafResult) -> list:
    return [leaf.name, leaf.op_type, leaf.kind, leaf.exact, leaf.scope, leaf.d_in, leaf.d_out, leaf.rank_cap, leaf.units,
            ";".join(str(g.pieces) for g in leaf.groups), leaf.complexity_bits, leaf.intrinsic_power, leaf.ambient_ratio,
            leaf.redundancy, leaf.params, leaf.macs]


def render_csv(result: AnalysisResult, group_by: int | None | bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if group_by is not False:
        w.writerow(["scope", "leaves", "complexity_bits", "units", "params", "macs", "d_in", "d_out"])
        for a in group_by_scope(result, group_by):
            w.writerow([a.scope, a.leaves, a.complexity_bits, a.units, a.params, a.macs, a.d_in, a.d_out])
        return buf.getvalue()
    w.writerow(LEAF_COLUMNS)
    for leaf in result.leaves:
        w.writerow(["" if v is None else v for v in _leaf_row(leaf)])
    return buf.getvalue()


def render_markdown(result: AnalysisResult, top: int = 10, group_by: int | None | bool = False) -> str:
    out = ["| metric | value |", "|---|---|"] + [f"| {k} | {v.replace('|', '/')} |" for k, v in summary_lines(result)]
    if group_by is not False:
        out += ["", "| scope | leaves | C bits | units | params | MACs |", "|---|--:|--:|--:|--:|--:|"]
        out += [f"| {a.scope} | {a.leaves} | {fmt_float(a.complexity_bits, 2)} | {fmt_int(a.units)} | {fmt_int(a.params)} | {fmt_int(a.macs)} |"
                for a in group_by_scope(result, group_by)]
    ranked = top_leaves(result, top)
    if ranked:
        out += ["", "| leaf | op | kind | d_in | d_out | C bits | P |", "|---|---|---|--:|--:|--:|--:|"]
        out += [f"| {l.name} | {l.op_type} | {l.kind} | {l.d_in} | {l.d_out} | {fmt_float(l.complexity_bits, 2)} | {fmt_float(l.intrinsic_power, 3)} |"
                for l in ranked]
    if result.warnings:
        out += [""] + [f"> warning: {w}" for w in result.warnings]
    return "\n".join(out) + "\n"


def render(result: AnalysisResult, fmt: str = "table", top: int = 10, group_by: int | None | bool = False) -> str:
    """The analysis in `fmt` (one of FORMATS): `top` leaves by complexity in table and markdown;
    `group_by` False for no grouping, None for full scopes, or a scope depth."""
    if fmt == "json":
        data = result.to_dict()
        if group_by is not False:
            data["groups"] = [asdict(a) for a in group_by_scope(result, group_by)]
        return json_text(data) + "\n"
    if fmt == "csv":
        return render_csv(result, group_by)
    if fmt == "markdown":
        return render_markdown(result, top, group_by)
    return render_table(result, top, group_by)
