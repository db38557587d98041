"""Self-contained HTML reports: one file that opens offline from `file://`.

`render_analysis` (one model, from its layer expression), `render_comparison` (several models,
optionally with an accuracy study), `render_check` and `render_audit` each return a whole page.
Plots are SVG written here (`svg.py`), styles and a small script (sorting, filtering, tree
folding, legend highlighting) are inlined from `assets/`; a Content-Security-Policy forbids
every request, so a report never reaches the network. The numbers are formatted as the text
presenters write them.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from html import escape
from importlib import resources
from typing import Any, Callable, Iterable, Sequence, TypeVar

from ..audit.result import AuditEntry, AuditResult
from ..comparison import COLUMNS, Comparison, CompareRow, column
from ..expression import LayerExpression, Term, formula
from ..policy import STATUSES, CheckResult, ModelCheck
from ..result import AnalysisResult, LeafResult
from ..study import AccuracyStudy, MetricCorrelation
from ..version import __version__
from .analysis import summary_lines
from .audit import change_text
from .comparison import CELL_TEXT, CORRELATION_HEADERS, correlation_cells, study_notes
from .svg import Bar, Guide, Point, Series, bar_chart, chart
from .tables import fmt_float, fmt_int

T = TypeVar("T")

#: No request of any kind: styles and scripts are inline, images are data: URIs at most.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
#: Longest formula shown on a tree line (the whole formula is in its tooltip).
FORMULA_CHARS = 90
#: Label points with model names up to this many models (tooltips always name them).
LABEL_POINTS = 15
#: The scatter plots of a comparison: metric pairs (comparison column keys), and which use log axes.
SCATTER_METRICS = ("complexity_bits", "intrinsic_power_mean", "macs", "params")
#: What a one-model report shows at most: rows of its leaves and blocks tables, bars of the
#: per-block chart, lines of the expression tree. A browser lays out a page of a few MB at once;
#: a graph of 100k nodes shown whole made a 110 MB page. What is left out is counted on the page;
#: `analyze --format csv` lists every leaf and `algebra` prints every block.
MOST_ROWS = 2000
MOST_BARS = 500
MOST_TREE_LINES = 2000
#: Dots of the profile at most: past it, the leaves in depth order are cut into runs, each drawn
#: as its lowest and highest d_in (the envelope a dense plot shows anyway).
MOST_POINTS = 4000
LOG_METRICS = frozenset({"complexity_bits", "macs", "params", "units"})


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Section:
    anchor: str
    heading: str
    body: str


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole document: head with inline CSS and CSP, a navigation bar, the sections, the script."""
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.heading)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{escape(s.heading)}</h2>{s.body}</section>' for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_asset('report.css')}</style></head>"
        f'<body><header><h1>{escape(title)}</h1><div class="sub">{escape(subtitle)}</div><nav>{nav}</nav></header>'
        f"<main>{body}</main>"
        f'<footer>onnxlayer {escape(__version__)} — layer complexity and intrinsic power (Neural Network Layer '
        "Algebra, Badías &amp; Banerjee 2023). C in bits (log2 of a linear-region bound), P and P̄ in log2 units, "
        "dimensions per sample. This file needs no network.</footer>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


# ------------------------------------------------------------------------------ building blocks


def _tiles(items: Iterable[tuple[str, str, bool]]) -> str:
    """Headline numbers: (name, value, highlighted as a problem)."""
    return '<div class="tiles">' + "".join(
        f'<div class="tile{" bad" if bad else ""}"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div></div>'
        for k, v, bad in items) + "</div>"


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs) + "</table>"


def _num_attr(value: object) -> str:
    """The raw value a sortable cell sorts by ("" for none)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _td(text: str, value: object = None, cls: str = "", title: str = "") -> str:
    attrs = f' data-v="{escape(_num_attr(value))}"' if value is not None else ""
    attrs += f' class="{cls}"' if cls else ""
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<td{attrs}>{escape(text)}</td>"


def _table(table_id: str, headers: Sequence[tuple[str, bool]], rows: Iterable[str], scroll: bool = True) -> str:
    """A sortable table; headers are (text, numeric); rows are ready `<tr>` strings."""
    head = "".join(f'<th class="num">{escape(h)}</th>' if numeric else f"<th>{escape(h)}</th>" for h, numeric in headers)
    table = f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return f'<div class="scroll">{table}</div>' if scroll else table


def _select(table_id: str, key: str, label: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return (f'<label>{escape(label)} <select data-filter-for="{table_id}" data-key="{key}">'
            f'<option value="">all</option>{options}</select></label>')


def _search(table_id: str, key: str, label: str) -> str:
    return (f'<label>{escape(label)} <input type="search" data-filter-for="{table_id}" data-key="{key}" '
            f'placeholder="contains…"></label>')


def _checks(table_id: str, key: str, label: str, values: Iterable[str]) -> str:
    boxes = "".join(f'<label><input type="checkbox" data-filter-for="{table_id}" data-key="{key}" value="{escape(v)}" '
                    f"checked> {escape(v)}</label>" for v in values)
    return f"<span>{escape(label)}:</span> {boxes}"


def _filters(table_id: str, *controls: str) -> str:
    return f'<div class="filters">{"".join(controls)}<span class="note" data-count-for="{table_id}"></span></div>'


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return '<p class="note">no warnings</p>'
    return '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul>"


def _power(x: float | None) -> str:
    return fmt_float(x, 3)


def _bits(x: float) -> str:
    return fmt_float(x, 1)


def _units(leaf: LeafResult) -> str:
    return " + ".join(f"{fmt_int(g.units)}×{g.pieces}" for g in leaf.groups) or "-"


# ------------------------------------------------------------------------------ one model


def render_analysis(expr: LayerExpression) -> str:
    """One model: summary card, profile, complexity per block, the expression tree, the leaves."""
    result = expr.result
    name = result.model.path or result.model.graph_name or "(in memory)"
    settings = f"tolerance ε = {result.settings['tolerance']:g}, domain B = {result.settings['domain']:g}"
    sections = [
        Section("summary", "Summary and profile", _summary_card(result)),
        Section("blocks", "Complexity per block", _blocks(expr)),
        Section("expression", "Layer-algebra expression", _tree(expr)),
        Section("leaves", "Leaves", _leaves(result)),
    ]
    return page(f"onnxlayer report: {name}", f"{len(result.leaves)} leaves; {settings}", sections)


def _summary_card(result: AnalysisResult) -> str:
    s = result.summary
    b = s.bottleneck
    tiles = _tiles([
        ("complexity C (bits)", fmt_float(s.complexity_bits, 1), False),
        ("log10 regions", fmt_float(s.complexity_log10_regions, 1), False),
        ("intrinsic power P", _power(s.intrinsic_power), False),
        ("mean power P̄", _power(s.intrinsic_power_mean), False),
        ("input dim D0", fmt_int(s.input_dim), False),
        ("params W", fmt_int(s.params), False),
        ("MACs", fmt_int(s.macs), False),
        ("bottleneck d", "-" if b is None else fmt_int(b.dim), False),
        ("VC bound", "n/a" if s.vc_bound is None else fmt_float(s.vc_bound, 3), False),
        ("opaque leaves", str(s.opaque_leaves), s.opaque_leaves > 0),
    ])
    facts = summary_lines(result) + [("sha256", result.model.sha256 or "-"), ("ONNX IR version", str(result.model.ir_version))]
    out = [tiles, f'<div class="side-by-side">{_kv(facts)}{_profile(result)}</div>']
    opaque = [leaf for leaf in result.leaves if leaf.kind == "opaque"]
    if opaque:
        kinds = Counter(f"{leaf.domain}:{leaf.op_type}" if leaf.domain else leaf.op_type for leaf in opaque)
        listed = ", ".join(f"{op} ×{n}" for op, n in kinds.most_common())
        out.append(f'<p class="opaque-note">{len(opaque)} opaque leaves (no registry rule; no units, κ = output size): '
                   f'{escape(listed)}. They are marked in the leaves table.</p>')
    out.append("<h3>Warnings</h3>" + _warnings(result.warnings))
    return "".join(out)


def _profile(result: AnalysisResult) -> str:
    """log2 d_in of each nonlinear leaf that reaches an output against its nonlinear depth (SPEC §3)."""
    s = result.summary
    points = [Point(leaf.depth, math.log2(leaf.d_in),
                    f"{leaf.name} ({leaf.op_type}): depth {leaf.depth}, d_in = {leaf.d_in:,}")
              for leaf in result.leaves if leaf.nonlinear and leaf.reaches_output and leaf.d_in > 0]
    drawn = _envelope(points, MOST_POINTS)
    guides = [Guide("y", math.log2(s.input_dim), f"D0 = {s.input_dim:,}")] if s.input_dim > 0 else []
    marks = []
    b = s.bottleneck
    if b is not None and b.dim > 0:
        depth = 0 if b.leaf is None else result.leaf(b.leaf).depth
        where = b.leaf or f"input {b.tensor}"
        guides.append(Guide("y", math.log2(b.dim), f"bottleneck d = {b.dim:,}"))
        marks.append(Point(depth, math.log2(b.dim), f"bottleneck: d = {b.dim:,} at {where} (depth {depth})", "bottleneck"))
    plot = chart([Series("nonlinear leaves", tuple(drawn))], title="Profile: effective input dimension of the nonlinear leaves",
                 x_label="nonlinear depth", y_label="log2 d_in", css_id="plot-profile", guides=guides, marks=marks)
    note = ("Each dot is a nonlinear leaf; the dashed lines are the input dimension D0 and the bottleneck, the "
            "smallest effective dimension every path passes through (ringed at the leaf that produces it). "
            f"P̄ = {_power(s.intrinsic_power_mean)} is the mean of log2(d_in / D0) over these leaves.")
    if len(drawn) < len(points):
        dots = f"{len(drawn):,} dot{'s' if len(drawn) > 1 else ''}"
        run = -(-len(points) // max(MOST_POINTS // 2, 1))
        note += (f" The {len(points):,} leaves are drawn as {dots}: in depth order, each run of {run:,} leaves "
                 "shows its lowest and highest d_in.")
    return f'<figure id="profile">{plot}<figcaption class="note">{escape(note)}</figcaption></figure>'


def _envelope(points: list[Point], most: int) -> list[Point]:
    """`points`, or past `most` of them, in order of depth (then d_in) cut into `most` // 2 runs,
    each kept as its lowest and highest point (its first where all share one d_in)."""
    if len(points) <= most:
        return points
    ordered = sorted(points, key=lambda p: (p.x, p.y))
    size = -(-len(ordered) // max(most // 2, 1))
    kept = []
    for first in range(0, len(ordered), size):
        run = ordered[first:first + size]
        low, high = min(run, key=lambda p: p.y), max(run, key=lambda p: p.y)
        where = f"of the {len(run):,} leaves at depths {run[0].x:g}–{run[-1].x:g}"
        if low.y == high.y:
            kept.append(replace(low, tip=f"{low.tip} (the d_in {where})"))
        else:
            kept += [replace(low, tip=f"{low.tip} (lowest {where})"), replace(high, tip=f"{high.tip} (highest {where})")]
    return kept


def blocks_along(root: Term) -> list[tuple[int, Term]]:
    """The blocks the network runs through, two levels down its series: (top-level index, block),
    repeats spelled out member by member."""
    top = list(root.children) if root.kind == "series" else [root]
    out = []
    for k, t in enumerate(top):
        inner = list(t.children) if t.kind in ("series", "repeat") and t.children else [t]
        for sub in inner:
            out += [(k, member) for member in (sub.children if sub.kind == "repeat" else (sub,))]
    return out


def _block_name(t: Term) -> str:
    return t.name or formula(t) or "id"


def _blocks(expr: LayerExpression) -> str:
    blocks = [(k, b) for k, b in blocks_along(expr.root) if b.value is not None]
    if len(blocks) <= MOST_BARS:
        bars = [Bar(_block_name(b), b.value.complexity,
                    f"{_block_name(b)}: C = {_bits(b.value.complexity)} bits, P = {_power(b.power)}, "
                    f"d {b.value.d_in:,} → {b.value.d_out:,}; {formula(b)[:200]}", k) for k, b in blocks]
        x_label = "blocks in network order (colours alternate by top-level block)"
    else:  # consecutive blocks in groups: the chart keeps the shape along the network
        size = -(-len(blocks) // MOST_BARS)
        bars = []
        for first in range(0, len(blocks), size):
            group = blocks[first:first + size]
            total = sum(b.value.complexity for _, b in group)
            span = f"blocks {first + 1:,}–{first + len(group):,}"
            bars.append(Bar(span, total, f"{span}: C = {_bits(total)} bits in all", len(bars)))
        x_label = f"blocks in network order, {size:,} to a bar ({len(blocks):,} blocks)"
    plot = bar_chart(bars, title="Complexity per block along the network", y_label="C (bits)", x_label=x_label,
                     css_id="plot-blocks")
    shown = _largest(blocks, lambda kb: kb[1].value.complexity, MOST_ROWS)
    rows = [f'<tr>{_td(str(i), i, "num")}{_td(_block_name(b), cls="name", title=_block_name(b))}'
            f'{_td(_bits(b.value.complexity), b.value.complexity, "num")}{_td(_power(b.power), b.power, "num")}'
            f'{_td(fmt_int(b.value.d_in), b.value.d_in, "num")}{_td(fmt_int(b.value.d_out), b.value.d_out, "num")}'
            f'{_td(_clip(formula(b)), cls="mono", title=formula(b))}</tr>'
            for i, (_, b) in shown]
    table = _table("blocks-table", [("#", True), ("block", False), ("C bits", True), ("P", True), ("d_in", True),
                                    ("d_out", True), ("formula", False)], rows)
    return f'<div class="plots">{plot}</div>{table}' + _left_out(len(shown), len(blocks), "blocks", "those of largest complexity",
                                                                "onnxlayer algebra MODEL prints every block")


def _largest(items: Sequence[T], key: Callable[[T], Any], most: int) -> list[tuple[int, T]]:
    """(position from 1, item) of the `most` items of largest `key` (the first of equal ones), in their order."""
    numbered = list(enumerate(items, 1))
    if len(numbered) <= most:
        return numbered
    kept = sorted(numbered, key=lambda pair: key(pair[1]), reverse=True)[:most]  # a stable sort keeps the first
    return sorted(kept, key=lambda pair: pair[0])


def _left_out(shown: int, total: int, what: str, which: str, where: str) -> str:
    """The note under a table that shows `shown` of `total` rows, or nothing when it shows them all."""
    if shown == total:
        return ""
    return (f'<p class="note left-out">{shown:,} of {total:,} {what} shown: {which}, in network order '
            f'(# is the position in the network); {escape(where)}.</p>')


def _clip(text: str, width: int = FORMULA_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _tree(expr: LayerExpression) -> str:
    """The expression as nested `<details>`: series parts, parallel branches and their merge,
    repeat members; each line with C, P and d_in → d_out of its block."""
    def line(t: Term) -> str:
        v = t.value
        text = formula(t)
        label = f"{len(t.children)}× {t.name}" if t.kind == "repeat" else (t.name if t.name and t.name != text else "")
        what = (f'<span class="kind">{escape(t.kind)}</span> <b>{escape(label)}</b> ' if label else
                f'<span class="kind">{escape(t.kind)}</span> ') + f'<span class="mono">{escape(_clip(text))}</span>'
        dims = "-" if v is None else f"{v.d_in:,} → {v.d_out:,}"
        c = "-" if v is None else _bits(v.complexity)
        return (f'<span class="what" title="{escape(text)}">{what}</span><span class="num">{escape(c)}</span>'
                f'<span class="num">{escape(_power(t.power))}</span><span class="num">{escape(dims)}</span>')

    budget = [MOST_TREE_LINES]  # lines left to show; the rest is counted

    def node(t: Term, depth: int) -> str:
        budget[0] -= 1
        children = list(t.children) + ([t.merge] if t.merge is not None else [])
        if not children:
            return f'<div class="leaf">{line(t)}</div>'
        inner = []
        for k, c in enumerate(children):
            if budget[0] <= 0:
                hidden = sum(1 for c in children[k:] for _ in c.iter())
                inner.append(f'<div class="leaf left-out">… {hidden:,} more block{"s" if hidden > 1 else ""} not shown '
                             f'(onnxlayer algebra MODEL prints them)</div>')
                break
            inner.append(node(c, depth + 1))
        return f'<details{" open" if depth < 2 else ""}><summary>{line(t)}</summary>{"".join(inner)}</details>'

    head = ('<div class="tree-head tree"><div class="leaf"><span class="what">block (∘ series, ⊕ parallel, n× repeat, '
            'DAG region)</span><span class="num">C bits</span><span class="num">P</span><span class="num">d_in → d_out</span></div></div>')
    buttons = ('<div class="filters"><button type="button" data-tree-action="expand" data-tree="tree">expand all</button>'
               '<button type="button" data-tree-action="collapse" data-tree="tree">collapse all</button></div>')
    return buttons + head + f'<div class="tree" id="tree">{node(expr.root, 0)}</div>'


def _leaves(result: AnalysisResult) -> str:
    rows = []
    # opaque leaves first: what the analysis could not read is never left out
    shown = _largest(result.leaves, lambda leaf: (leaf.kind == "opaque", leaf.complexity_bits), MOST_ROWS)
    for i, leaf in shown:
        cls = ' class="opaque"' if leaf.kind == "opaque" else ""
        rows.append(
            f'<tr{cls} data-op="{escape(leaf.op_type)}" data-kind="{escape(leaf.kind)}" data-scope="{escape(leaf.scope)}" '
            f'data-name="{escape(leaf.name)}">'
            f'{_td(str(i), i, "num")}{_td(leaf.name, cls="name", title=leaf.name)}{_td(leaf.op_type)}{_td(leaf.kind)}'
            f'{_td(leaf.scope, cls="name", title=leaf.scope)}{_td(fmt_int(leaf.d_in), leaf.d_in, "num")}'
            f'{_td(fmt_int(leaf.d_out), leaf.d_out, "num")}{_td(_units(leaf), leaf.units, "num")}'
            f'{_td(fmt_float(leaf.complexity_bits, 2), leaf.complexity_bits, "num")}'
            f'{_td(_power(leaf.intrinsic_power), leaf.intrinsic_power if leaf.intrinsic_power is not None else "", "num")}'
            f'{_td("exact" if leaf.exact else "approx.")}</tr>')
    filters = _filters("leaves-table",
                       _select("leaves-table", "op", "op type", sorted({l.op_type for _, l in shown})),
                       _select("leaves-table", "kind", "kind", sorted({l.kind for _, l in shown})),
                       _search("leaves-table", "scope", "scope"), _search("leaves-table", "name", "name"))
    table = _table("leaves-table", [("#", True), ("leaf", False), ("op", False), ("kind", False), ("scope", False),
                                    ("d_in", True), ("d_out", True), ("units × pieces", True), ("C bits", True),
                                    ("P", True), ("LTA", False)], rows)
    return filters + table + _left_out(len(shown), len(result.leaves), "leaves",
                                       "the opaque ones and those of largest complexity",
                                       "onnxlayer analyze MODEL --format csv lists every leaf")


# ------------------------------------------------------------------------------ several models


def render_comparison(cmp: Comparison, study: AccuracyStudy | None = None) -> str:
    """Several models: the summary table, scatter plots of C, P̄, MACs and W, the profiles overlaid
    and, with a study, the rank correlations with accuracy and a scatter per metric."""
    ok = [r for r in cmp.rows if r.ok]
    settings = f"tolerance ε = {cmp.settings['tolerance']:g}, domain B = {cmp.settings['domain']:g}"
    sections = [Section("models", "Models", _compare_table(cmp, study)),
                Section("scatter", "Metrics against each other", _scatters(ok)),
                Section("profiles", "Profiles", _overlaid_profiles(ok))]
    if study is not None:
        sections.append(Section("accuracy", "Accuracy study", _study(ok, study)))
    failed = f", {len(cmp.failed)} failed" if cmp.failed else ""
    return page(f"onnxlayer comparison: {len(cmp.rows)} models", f"{len(ok)} analysed{failed}; {settings}", sections)


def _compare_table(cmp: Comparison, study: AccuracyStudy | None) -> str:
    headers = [(c.header, c.key not in ("model", "bottleneck_leaf")) for c in COLUMNS] + ([("top1", True)] if study else [])
    rows = []
    for r in cmp.rows:
        cells = [_td(r.model, r.model.lower(), "name", r.model)]
        for c in COLUMNS[1:]:
            value = None if r.summary is None else c.value(r.summary)
            numeric = c.key != "bottleneck_leaf"
            cells.append(_td(CELL_TEXT[c.key](value), value if numeric and value is not None else "",
                             "num" if numeric else "name"))
        if study:
            top1 = study.top1(r.model)
            cells.append(_td("-" if top1 is None else f"{top1:g}", top1 if top1 is not None else "", "num"))
        status = "ok" if r.ok else "failed"
        cls = "" if r.ok else ' class="opaque"'
        rows.append(f'<tr data-status="{status}"{cls}>{"".join(cells)}</tr>')
    out = [_table("models-table", headers, rows)]
    notes = [f"FAILED {r.model}: {r.error}" for r in cmp.failed] + [f"warning: {w}" for w in cmp.warnings]
    if notes:
        out.append('<ul class="warnings">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return "".join(out)


def _metric_points(rows: Sequence[CompareRow], x_key: str, y_key: str, label: bool) -> tuple[Point, ...]:
    xc, yc = column(x_key), column(y_key)
    points = []
    for r in rows:
        x, y = xc.value(r.summary), yc.value(r.summary)
        if x is None or y is None:
            continue
        tip = f"{r.model}: {xc.header} = {CELL_TEXT[x_key](x)}, {yc.header} = {CELL_TEXT[y_key](y)}"
        points.append(Point(float(x), float(y), tip, _short(r.model) if label else ""))
    return tuple(points)


def _short(model: str) -> str:
    """A model's name without `zoo:`, directories and `.onnx`, for point labels."""
    name = model.rsplit("/", 1)[-1]
    name = name[len("zoo:"):] if name.startswith("zoo:") else name
    return name[: -len(".onnx")] if name.endswith(".onnx") else name


def _axis_label(key: str) -> str:
    return column(key).header + (" (log scale)" if key in LOG_METRICS else "")


def _scatters(rows: Sequence[CompareRow]) -> str:
    label = len(rows) <= LABEL_POINTS
    plots = []
    for i, x_key in enumerate(SCATTER_METRICS):
        for y_key in SCATTER_METRICS[i + 1:]:
            points = _metric_points(rows, x_key, y_key, label)
            plots.append(chart([Series("models", points)], title=f"{column(y_key).header} against {column(x_key).header}",
                               x_label=_axis_label(x_key), y_label=_axis_label(y_key), css_id=f"plot-{x_key}-{y_key}",
                               x_log=x_key in LOG_METRICS, y_log=y_key in LOG_METRICS))
    return f'<div class="plots">{"".join(plots)}</div>'


def _overlaid_profiles(rows: Sequence[CompareRow]) -> str:
    """Each model's profile as the mean of log2(d_in / D0) over its nonlinear leaves at each depth,
    against depth / L, so that networks of any input size and depth share the axes."""
    series = []
    for r in rows:
        s = r.summary
        if not s.profile or s.depth == 0 or s.input_dim <= 0:
            continue
        by_depth: dict[int, list[float]] = {}
        for depth, log2_d in s.profile:
            by_depth.setdefault(depth, []).append(log2_d - math.log2(s.input_dim))
        points = tuple(Point(depth / s.depth, sum(v) / len(v),
                             f"{r.model}: depth {depth} of {s.depth}, mean log2(d_in/D0) = {sum(v) / len(v):.3f}")
                       for depth, v in sorted(by_depth.items()))
        series.append(Series(r.model, points, line=True, dots=len(points) <= 60))
    plot = chart(series, title="Profiles overlaid", x_label="nonlinear depth / L",
                 y_label="mean log2(d_in / D0) of the nonlinear leaves", css_id="plot-profiles", legend=True)
    note = ("0 means a nonlinear leaf sees the whole input dimension; lower lines compress earlier. "
            "Hover a legend entry to single out a model; every line has its model in the tooltip.")
    return f'<figure id="profile">{plot}<figcaption class="note">{escape(note)}</figcaption></figure>'


def _study(rows: Sequence[CompareRow], study: AccuracyStudy) -> str:
    notes = "".join(f"<p class=note>{escape(line)}</p>" for line in study_notes(study))
    headers = [(h, h in ("n", "Spearman ρ", "Kendall τ")) for h in CORRELATION_HEADERS]
    table_rows = []
    for c in study.correlations:
        cells = correlation_cells(c)
        table_rows.append("<tr>" + "".join(_td(text, value, "num" if numeric else "")
                                           for text, value, numeric in zip(cells, _correlation_values(c), [h[1] for h in headers]))
                          + "</tr>")
    table = _table("correlations-table", headers, table_rows, scroll=False)
    matched = {model: top1 for model, top1 in study.matched}
    label = len(matched) <= LABEL_POINTS
    plots = []
    for c in study.correlations:
        col = column(c.metric)
        points = []
        for r in rows:
            value = col.value(r.summary)
            if r.model in matched and value is not None:
                points.append(Point(float(value), matched[r.model],
                                    f"{r.model}: {col.header} = {CELL_TEXT[c.metric](value)}, top1 = {matched[r.model]:g}",
                                    _short(r.model) if label else ""))
        rho = "-" if c.spearman is None else f"{c.spearman:.2f}"
        tau = "-" if c.kendall is None else f"{c.kendall:.2f}"
        plots.append(chart([Series("models", tuple(points))],
                           title=f"top-1 against {col.header}: ρ = {rho}, τ = {tau}, n = {c.n}"
                                 + (" (baseline)" if c.baseline else ""),
                           x_label=_axis_label(c.metric), y_label="top-1 accuracy (%)", css_id=f"plot-accuracy-{c.metric}",
                           x_log=c.metric in LOG_METRICS))
    return notes + table + f'<div class="plots">{"".join(plots)}</div>'


def _correlation_values(c: MetricCorrelation) -> list[object]:
    """Sort keys of a correlation row's cells, in CORRELATION_HEADERS order."""
    return [c.label, c.n, "" if c.spearman is None else c.spearman,
            "" if c.spearman_interval is None else c.spearman_interval[0],
            "" if c.kendall is None else c.kendall, "" if c.kendall_interval is None else c.kendall_interval[0],
            "baseline" if c.baseline else ""]


# ------------------------------------------------------------------------------ check and audit


def render_check(result: CheckResult) -> str:
    """`onnxlayer check`: the verdict, then each model's rules with PASS/FAIL/WARN/SKIP."""
    counts = {s: result.count(s) for s in STATUSES}
    verdict = "PASS" if result.passed else "FAIL"
    tiles = _tiles([("result", verdict, not result.passed)] + [(s, str(n), s == "fail" and n > 0) for s, n in counts.items()])
    rows = []
    for m in result.models:
        for o in m.outcomes:
            rows.append(f'<tr data-status="{o.status}" data-model="{escape(m.model)}">{_td(m.model, m.model.lower(), "name", m.model)}'
                        f'<td class="status-{o.status}" data-v="{o.status}">{o.status.upper()}</td>'
                        f"{_td(o.rule.name)}{_td(o.rule.kind)}{_td(o.rule.severity)}{_td(o.measured)}{_td(o.limit)}"
                        f"{_td(o.detail or o.rule.message or '')}</tr>")
    filters = _filters("rules-table", _checks("rules-table", "status", "status", STATUSES),
                       _select("rules-table", "model", "model", [m.model for m in result.models]))
    table = _table("rules-table", [("model", False), ("status", False), ("rule", False), ("kind", False),
                                   ("severity", False), ("measured", False), ("limit", False), ("detail", False)], rows)
    models = _table("check-models", [("model", False), ("verdict", False), ("baseline", False), ("pass", True),
                                     ("fail", True), ("warn", True), ("skip", True)],
                    [_check_model_row(m) for m in result.models], scroll=False)
    sections = [Section("verdict", "Verdict", tiles + models + _warnings(result.warnings)),
                Section("rules", "Rules", filters + table)]
    return page(f"onnxlayer check: {verdict}", f"policy {result.policy}; {len(result.models)} models", sections)


def _check_model_row(m: ModelCheck) -> str:
    verdict = "pass" if m.passed else "fail"
    return (f'<tr>{_td(m.model, m.model.lower(), "name", m.model)}<td class="status-{verdict}">{verdict.upper()}</td>'
            f"{_td(m.baseline or '-')}" + "".join(_td(str(m.count(s)), m.count(s), "num") for s in STATUSES) + "</tr>")


def render_audit(result: AuditResult) -> str:
    """`onnxlayer audit`: counts, the entries with status and policy filters and their version
    changes, and C against W of the analysed entries."""
    c = result.counts
    tiles = _tiles([("entries", str(len(result.entries)), False), ("analysed", str(c.analysed), False),
                    ("cached", str(c.cached), False), ("failed", str(c.failed), c.failed > 0),
                    ("skipped", str(c.skipped), False)])
    context = _kv([("store", result.store), ("policy", result.policy or "-"),
                   ("settings", ", ".join(f"{k} = {v}" for k, v in result.settings.items()) or "-"),
                   ("limits", ", ".join(f"{k} = {v}" for k, v in result.limits.items()) or "-")])
    checks = sorted({_check_status(e) for e in result.entries})
    filters = _filters("entries-table", _checks("entries-table", "status", "status", ("ok", "failed", "skipped")),
                       _checks("entries-table", "check", "policy", checks), _search("entries-table", "name", "name"))
    table = _table("entries-table", [("name", False), ("version", False), ("status", False), ("C bits", True),
                                     ("P", True), ("P̄", True), ("W", True), ("MACs", True), ("opaque", True),
                                     ("policy", False), ("change", False), ("reason", False)],
                   [_audit_row(e) for e in result.entries])
    ok = [e for e in result.entries if e.ok and e.summary.get("params") and e.summary.get("complexity_bits")]
    points = tuple(Point(float(e.summary["params"]), float(e.summary["complexity_bits"]),
                         f"{_entry_label(e)}: W = {fmt_int(e.summary['params'])}, C = {_bits(e.summary['complexity_bits'])} bits",
                         _entry_label(e) if len(ok) <= LABEL_POINTS else "") for e in ok)
    plot = chart([Series("entries", points)], title="Complexity against parameters of the analysed entries",
                 x_label="W (log scale)", y_label="C bits (log scale)", css_id="plot-audit", x_log=True, y_log=True)
    sections = [Section("overview", "Overview", tiles + context),
                Section("entries", "Entries", filters + table),
                Section("plot", "C against W", f'<div class="plots">{plot}</div>')]
    return page(f"onnxlayer audit: {len(result.entries)} entries", c.line(), sections)


def _check_status(e: AuditEntry) -> str:
    return "none" if e.check is None else e.check.status


def _entry_label(e: AuditEntry) -> str:
    return e.name + (f" v{e.version}" if e.version else "")


def _audit_row(e: AuditEntry) -> str:
    s = e.summary if e.ok else {}

    def num(key: str, text) -> str:
        value = s.get(key)
        return _td(text(value), value if value is not None else "", "num")

    check = _check_status(e)
    reason = e.reason
    if e.check is not None:
        reason = "; ".join([reason] * bool(reason) + [f"{r.status.upper()} {r.name}: {r.measured} (limit: {r.limit})"
                                                      for r in e.check.rules if r.status in ("fail", "warn")])
    status = e.status + (" (cached)" if e.cached and e.ok else "")
    return (f'<tr data-status="{e.status}" data-check="{check}" data-name="{escape(e.name)}">'
            f'{_td(e.name, e.name.lower(), "name", e.location)}{_td(e.version or "-")}'
            f'<td class="status-{e.status}" data-v="{e.status}">{escape(status)}</td>'
            f'{num("complexity_bits", lambda v: fmt_float(v, 1))}{num("intrinsic_power", _power)}'
            f'{num("intrinsic_power_mean", _power)}{num("params", fmt_int)}{num("macs", fmt_int)}'
            f'{num("opaque_leaves", lambda v: "-" if v is None else str(v))}'
            f'<td class="status-{check}">{escape(check)}</td>{_td(change_text(e.change))}{_td(reason)}</tr>')
