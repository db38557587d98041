"""Renderings of a model diff (`onnxlayer diff`): text, JSON and markdown."""
from __future__ import annotations

from typing import Any

from ..version import __version__
from ..diff import LeafChange, MetricDelta, ModelDiff, op_label
from ..result import SCHEMA_VERSION, LeafResult, json_text
from .tables import fmt_float, fmt_int, text_table

FORMATS = ("text", "json", "markdown")
#: Which aligned leaves a report lists: only those that differ, or every pair.
LEAF_CHOICES = ("changed", "all")
#: Leaf fields written for each side of a change in JSON.
LEAF_JSON_FIELDS = ("name", "op_type", "domain", "kind", "scope", "d_in", "d_out", "rank_cap", "params", "macs",
                    "complexity_bits")


def render(d: ModelDiff, fmt: str = "text", leaves: str = "changed") -> str:
    if fmt == "json":
        return json_text(to_dict(d, leaves)) + "\n"
    if fmt == "markdown":
        return render_markdown(d, leaves)
    return render_text(d, leaves)


def to_dict(d: ModelDiff, leaves: str = "changed") -> dict[str, Any]:
    """The JSON form: stable field names, documented in docs/deployment.md."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "onnxlayer", "version": __version__},
        "old": d.old_label,
        "new": d.new_label,
        "verdict": d.verdict,
        "architectural_change": d.architectural_change,
        "reasons": list(d.reasons),
        "metrics": {m.key: {"old": m.old, "new": m.new, "delta": m.delta, "relative": m.relative, "equal": m.equal,
                            "architectural": m.architectural} for m in d.metrics},
        "units": {"old": [{"pieces": p, "units": u} for p, u in d.old_units],
                  "new": [{"pieces": p, "units": u} for p, u in d.new_units]},
        "op_types": {"added": list(d.added_op_types), "removed": list(d.removed_op_types)},
        "leaf_counts": {s: d.count(s) for s in ("same", "changed", "added", "removed")},
        "leaves": [{"status": c.status, "old": _leaf_dict(c.old), "new": _leaf_dict(c.new), "fields": list(c.fields)}
                   for c in _listed(d, leaves)],
        "warnings": list(d.warnings),
    }


def _leaf_dict(leaf: LeafResult | None) -> dict[str, Any] | None:
    if leaf is None:
        return None
    out = {k: getattr(leaf, k) for k in LEAF_JSON_FIELDS}
    out["groups"] = [{"units": g.units, "pieces": g.pieces} for g in leaf.groups]
    return out


def _listed(d: ModelDiff, leaves: str) -> list[LeafChange]:
    return list(d.leaves) if leaves == "all" else [c for c in d.leaves if c.status != "same"]


def _num(x: float | int | None) -> str:
    return fmt_int(x) if isinstance(x, int) or x is None else fmt_float(x)


def _signed(x: float | int | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return ("+" if x > 0 else "−") + _num(abs(x))


def _percent(m: MetricDelta) -> str:
    r = m.relative
    if r is None:
        return "-" if m.delta in (None, 0) else "new"
    return "0%" if r == 0 else f"{r * 100:+.2f}%".replace("-", "−")


def _metric_rows(d: ModelDiff) -> list[list[str]]:
    return [[f"{m.symbol}{'' if m.architectural else ' (info)'}", _num(m.old), _num(m.new), _signed(m.delta), _percent(m)]
            for m in d.metrics]


def _side(old: Any, new: Any, show=str) -> str:
    if old is None:
        return show(new)
    if new is None:
        return show(old)
    return show(old) if old == new else f"{show(old)} → {show(new)}"


def _units(leaf: LeafResult | None) -> str | None:
    if leaf is None:
        return None
    return " + ".join(f"{fmt_int(g.units)}×{g.pieces}" for g in leaf.groups) or "-"


def _leaf_row(c: LeafChange) -> list[str]:
    o, n = c.old, c.new

    def get(field: str):
        return getattr(o, field) if o else None, getattr(n, field) if n else None

    return [
        c.status,
        o.name if o else "",
        n.name if n else "",
        _side(*(op_label(x.domain, x.op_type) if x else None for x in (o, n))),
        _side(*get("d_in"), show=fmt_int),
        _side(*get("d_out"), show=fmt_int),
        _side(_units(o), _units(n)),
        _side(*get("params"), show=fmt_int),
        _side(*get("macs"), show=fmt_int),
        ", ".join(c.fields),
    ]


LEAF_HEADERS = ("status", "old leaf", "new leaf", "op", "d_in", "d_out", "units×pieces", "params", "MACs", "changed")


def _counts(d: ModelDiff) -> str:
    return ", ".join(f"{d.count(s)} {s}" for s in ("same", "changed", "added", "removed"))


def render_text(d: ModelDiff, leaves: str = "changed") -> str:
    out = [f"old: {d.old_label}", f"new: {d.new_label}", f"verdict: {d.verdict}"]
    out += [f"  - {r}" for r in d.reasons]
    out += ["", text_table(("metric", "old", "new", "Δ", "Δ%"), _metric_rows(d), right={1, 2, 3, 4})]
    out += ["", f"leaves: {_counts(d)}"]
    if d.added_op_types:
        out.append(f"op types added: {', '.join(d.added_op_types)}")
    if d.removed_op_types:
        out.append(f"op types removed: {', '.join(d.removed_op_types)}")
    listed = _listed(d, leaves)
    if listed:
        out += ["", "aligned leaves:" if leaves == "all" else "leaves that differ:"]
        out.append(text_table(LEAF_HEADERS, [_leaf_row(c) for c in listed], right={4, 5, 7, 8}))
    out += ["", "architectural: C, P, P̄, D0, W, MACs and the nonlinear units (count per piece count); "
                "(info) rows, names, op types and fusion are reported, not judged"]
    out += [f"warning: {w}" for w in d.warnings]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(d: ModelDiff, leaves: str = "changed") -> str:
    out = [f"**{d.verdict}**: `{_md(d.old_label)}` → `{_md(d.new_label)}`", ""]
    out += [f"- {_md(r)}" for r in d.reasons]
    if d.reasons:
        out.append("")
    out += ["| metric | old | new | Δ | Δ% |", "|---|--:|--:|--:|--:|"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _metric_rows(d)]
    out += ["", f"Leaves: {_counts(d)}."]
    if d.added_op_types:
        out.append(f"Op types added: {', '.join(f'`{t}`' for t in d.added_op_types)}.")
    if d.removed_op_types:
        out.append(f"Op types removed: {', '.join(f'`{t}`' for t in d.removed_op_types)}.")
    listed = _listed(d, leaves)
    if listed:
        out += ["", "| " + " | ".join(LEAF_HEADERS) + " |", "|" + "|".join("--:" if i in (4, 5, 7, 8) else "---"
                                                                       for i in range(len(LEAF_HEADERS))) + "|"]
        out += ["| " + " | ".join(_md(c) for c in _leaf_row(c)) + " |" for c in listed]
    out += [f"> warning: {_md(w)}" for w in d.warnings]
    return "\n".join(out) + "\n"
