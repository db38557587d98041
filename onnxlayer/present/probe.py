"""A probe result (`ProbeResult`) as a table, JSON or CSV."""
from __future__ import annotations

import csv
import io

from ..probe.result import ProbeResult
from .tables import shorten, text_table

FORMATS = ("table", "json", "csv")
CSV_FIELDS = ("name", "op_type", "kind", "units", "complexity_bits", "transitions", "transitions_estimated",
              "transitions_per_unit_length", "local_regions", "local_region_bits", "effective_dim", "rank",
              "rank_min", "inactive_fraction", "dead_units", "frozen_units", "note")


def _num(v) -> str:
    return "" if v is None else str(v)


def _f(v) -> str:
    return "" if v is None else f"{v:.2f}"


def render_csv(result: ProbeResult) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for leaf in result.leaves:
        w.writerow(["" if getattr(leaf, f) is None else getattr(leaf, f) for f in CSV_FIELDS])
    return out.getvalue()


def render_table(result: ProbeResult) -> str:
    s = result.summary
    lines = [
        f"probe: {result.model or 'model'}",
        f"  {s.lines} lines × {s.points} points, t ∈ [−{s.span:.4g}, {s.span:.4g}] ({s.origin} origin, σ = {s.input_scale:g}),"
        f" seed {s.seed}, provider {s.provider}, batch {s.batch_size}",
        f"  bisection to |Δt| < {s.resolution:.3g} ({s.resolution_relative:g}·T), budget {s.refine_budget} evaluations/line,"
        f" {s.evaluations} evaluations, {s.unresolved_intervals} interval(s) left open",
        f"  regions per line: mean {s.regions_per_line:.1f}, max {s.regions_max} (log2 {s.region_bits_max:.2f} bits)"
        f"  ≤  bound {s.region_bound_bits:.2f} bits",
        f"  transitions: {s.transitions} ({s.transitions_per_unit_length:.4g} per unit length)"
        + ("" if s.exact else "  [not exact: see leaves]"),
        f"  rank: {s.directions} directions at {s.rank_points} point(s), tolerance {s.rank_tolerance:g}·σ_max,"
        f" step {s.rank_step:g}·|x|",
        f"  statistics over {s.samples} sample(s) from {s.samples_source}"
        + (f"; {s.weights_drawn} initializer(s) drawn at random ({s.random_weights})" if s.weights_drawn else ""),
        f"  {s.seconds:.1f} s",
        "",
    ]
    header = ("leaf", "op", "units", "c bits", "trans", "local", "lbits", "d", "rank", "inactive", "dead")
    rows = []
    for leaf in result.leaves:
        if not leaf.units and leaf.rank is None:
            continue
        rows.append((
            shorten(leaf.name, 48), leaf.op_type, _num(leaf.units if leaf.units else None),
            _f(leaf.complexity_bits if leaf.units else None),
            _num(leaf.transitions) + ("~" if leaf.transitions_estimated else ""), _num(leaf.local_regions),
            _f(leaf.local_region_bits), _num(leaf.effective_dim), _num(leaf.rank),
            "" if leaf.inactive_fraction is None else f"{leaf.inactive_fraction:.3f}", _num(leaf.dead_units),
        ))
    lines.append(text_table(header, rows, right=range(2, len(header)), rule=False, strip=False))
    lines.append("")
    lines.append("trans: pattern changes over all lines (~: includes estimates from intervals left open);"
                 " local: most pieces on one segment where the leaf's ancestors keep their pattern"
                 " (log2 ≤ c bits); d: effective dimension of the walk; rank: probed Jacobian rank.")
    for w in result.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"


def render(result: ProbeResult, fmt: str = "table") -> str:
    """The probe result in `fmt` (one of FORMATS)."""
    if fmt == "json":
        return result.to_json() + "\n"
    if fmt == "csv":
        return render_csv(result)
    if fmt == "table":
        return render_table(result)
    raise ValueError(f"unknown format {fmt!r}")
