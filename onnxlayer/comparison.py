"""Compare models side by side: one row of SPEC §3 global metrics per model.

`compare([...])` analyses every model and keeps going when one fails: that row carries the
error instead of numbers. `onnxlayer compare` renders the rows as a table, CSV, JSON or
markdown, sorted by any column.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import onnx

from . import __version__
from .errors import OnnxLayerError, SettingsError
from .loading import ModelSource
from .present.text import fmt_float
from .result import SCHEMA_VERSION, Summary
from .transfer import Settings

#: Zoo-only prefix for model sources in `compare()` ("zoo:resnet50").
ZOO_PREFIX = "zoo:"
def zoo_input_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Default input shapes for zoo model `name` (empty when every dim is fixed)."""
    from .models_access import zoo_input_shapes as defaults

    return defaults(name)


# ------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class CompareRow:
    """One model: its global metrics, or why it could not be analysed."""

    model: str
    summary: Summary | None
    error: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "ok": self.ok, "error": self.error}
        for col in COLUMNS[1:]:
            out[col.key] = None if self.summary is None else col.value(self.summary)
        out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class Column:
    key: str  # machine name (CSV/JSON), SPEC §6 summary field names where one exists
    header: str  # table header
    value: Callable[[Summary], Any]
    text: Callable[[Any], str]
    aliases: tuple[str, ...] = ()


#: Compare-table floats: 3 digits, scientific from a billion (wider than the report's 1e7).
_num = partial(fmt_float, digits=3, sci_above=1e9)


def _big(n: int | None) -> str:
    """Counts: exact below a billion, then three significant digits."""
    if n is None:
        return "-"
    return f"{n:,}" if abs(n) < 10**9 else f"{n:.3e}"


def _bits(x: float | None) -> str:
    return "-" if x is None else (f"{x:,.0f}" if abs(x) < 1e9 else f"{x:.4e}")


def _bottleneck_leaf(s: Summary) -> str | None:
    b = s.bottleneck
    return None if b is None else (b.leaf or f"input {b.tensor}")


COLUMNS: tuple[Column, ...] = (
    Column("model", "model", lambda s: None, str),
    Column("complexity_bits", "C bits", lambda s: s.complexity_bits, _bits, ("c", "complexity")),
    Column("complexity_log10_regions", "log10 R", lambda s: s.complexity_log10_regions, _bits, ("log10", "regions")),
    Column("intrinsic_power", "P", lambda s: s.intrinsic_power, _num, ("p", "power")),
    Column("intrinsic_power_mean", "P̄", lambda s: s.intrinsic_power_mean, _num, ("pbar", "p_mean", "mean_power")),
    Column("input_dim", "D0", lambda s: s.input_dim, _big, ("d0",)),
    Column("output_dim", "out", lambda s: s.output_dim, _big, ("out",)),
    Column("depth", "L", lambda s: s.depth, _big, ("l",)),
    Column("units", "U", lambda s: s.units, _big, ("u",)),
    Column("params", "W", lambda s: s.params, _big, ("w",)),
    Column("macs", "MACs", lambda s: s.macs, _big, ()),
    Column("bottleneck_dim", "bneck d", lambda s: None if s.bottleneck is None else s.bottleneck.dim, _big, ("bottleneck",)),
    Column("bottleneck_leaf", "bneck leaf", _bottleneck_leaf, lambda v: "-" if v is None else str(v)),
    Column("vc_bound", "VC bound", lambda s: s.vc_bound, lambda v: "-" if v is None else f"{v:.3e}", ("vc",)),
    Column("opaque_leaves", "opaque", lambda s: s.opaque_leaves, _big, ("opaque",)),
)
_BY_NAME: dict[str, Column] = {}
for _col in COLUMNS:
    for _name in (_col.key, _col.header.lower(), *_col.aliases):
        _BY_NAME.setdefault(_name.lower(), _col)


def column(name: str) -> Column:
    """A column by key, header or alias (case-insensitive); SettingsError lists the choices."""
    col = _BY_NAME.get(name.lower())
    if col is None:
        raise SettingsError(f"--sort {name!r}: unknown column; columns are: {', '.join(c.key for c in COLUMNS)}")
    return col


@dataclass(frozen=True)
class Comparison:
    """The rows of `compare()`, in the order given (or sorted), with the settings used."""

    rows: tuple[CompareRow, ...]
    settings: dict[str, float]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    tool_version: str = __version__

    @property
    def failed(self) -> tuple[CompareRow, ...]:
        return tuple(r for r in self.rows if not r.ok)

    def sorted(self, by: str, descending: bool = False) -> "Comparison":
        """Rows ordered by a column; failed rows and missing values always come last."""
        col = column(by)

        def key(row: CompareRow) -> tuple:
            if col.key == "model":
                return (0, row.model.lower())
            v = None if row.summary is None else col.value(row.summary)
            return (0, v) if v is not None else (1, 0)

        good = [r for r in self.rows if r.ok]
        present = [r for r in good if key(r)[0] == 0]
        missing = [r for r in good if key(r)[0] == 1]
        present.sort(key=lambda r: key(r)[1], reverse=descending)
        return Comparison(tuple(present + missing + list(self.failed)), self.settings, self.warnings, self.tool_version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "onnxlayer", "version": self.tool_version},
            "settings": dict(self.settings),
            "rows": [r.to_dict() for r in self.rows],
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


# ------------------------------------------------------------------------------ analysis


def compare(
    models: Sequence[ModelSource | tuple[str, ModelSource]],
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
) -> Comparison:
    """Analyse each model and collect one row per model; a failing model gives a failed row.

    A model is a path, bytes, an `onnx.ModelProto`, `"zoo:NAME"` for a built-in architecture
    (graph-only), or a `(label, source)` pair. `input_shapes` applies to every model that has
    an input of that name; zoo models get their defaults (`onnxlayer.models.default_input_shapes`) underneath.
    """
    from .analysis import analyze
    from .loading import load_model

    Settings(float(tolerance), float(domain))  # validate once, before any model runs
    shapes = dict(input_shapes or {})
    used: set[str] = set()
    rows = []
    for item in models:
        label, source = item if isinstance(item, tuple) else (_label(item), item)
        try:
            proto, defaults = _resolve(source, load_model)
            names = {i.name for i in proto.graph.input} - {i.name for i in proto.graph.initializer}
            mine = {**defaults, **{k: v for k, v in shapes.items() if k in names}}
            used.update(k for k in shapes if k in names)
            result = analyze(proto, mine, tolerance=tolerance, domain=domain, strict=strict, fuse=fuse, path=label)
            rows.append(CompareRow(label, result.summary, None, result.warnings))
        except OnnxLayerError as exc:
            rows.append(CompareRow(label, None, str(exc)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug or an exotic model: this row fails, the others go on
            rows.append(CompareRow(label, None, f"internal error: {type(exc).__name__}: {exc}"))
    warnings = tuple(f"--input-shape {k}: no model has an input of that name" for k in shapes if k not in used)
    return Comparison(tuple(rows), {"tolerance": float(tolerance), "domain": float(domain)}, warnings)


def _label(source: ModelSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, onnx.ModelProto):
        return source.graph.name or "(in memory)"
    return "(bytes)"


def _resolve(source: ModelSource, load_model) -> tuple[onnx.ModelProto, dict[str, tuple[int, ...]]]:
    if isinstance(source, str) and source.startswith(ZOO_PREFIX):
        from .models_access import zoo_model

        name = source[len(ZOO_PREFIX):]
        return zoo_model(name), zoo_input_shapes(name)
    return load_model(source), {}


def zoo_sources(spec: str) -> list[str]:
    """`all` or `NAME,NAME,...` → ["zoo:NAME", ...]; unknown names are a SettingsError."""
    from .models_access import zoo_module

    available = zoo_module().names()
    if spec.strip() == "all":
        return [ZOO_PREFIX + n for n in available]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise SettingsError(f"--zoo {spec!r}: unknown model(s) {', '.join(unknown) or '(none given)'}; "
                            f"give 'all' or names from: {', '.join(available)}")
    return [ZOO_PREFIX + n for n in names]


# ------------------------------------------------------------------------------ rendering


def _cells(row: CompareRow) -> list[str]:
    if row.summary is None:
        return [row.model] + ["-"] * (len(COLUMNS) - 1)
    return [row.model] + [c.text(c.value(row.summary)) for c in COLUMNS[1:]]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def render_table(cmp: Comparison, leaf_width: int = 36) -> str:
    headers = [c.header for c in COLUMNS]
    leaf_col = [c.key for c in COLUMNS].index("bottleneck_leaf")
    rows = []
    for r in cmp.rows:
        cells = _cells(r)
        cells[leaf_col] = _shorten(cells[leaf_col], leaf_width)
        rows.append(cells)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    left = {0, leaf_col}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out += _footer(cmp)
    return "\n".join(out) + "\n"


def _footer(cmp: Comparison, bullet: str = "") -> list[str]:
    lines = []
    settings = f"tolerance ε = {cmp.settings['tolerance']:g}, domain B = {cmp.settings['domain']:g}"
    lines.append(f"{bullet}settings: {settings}; C in bits, P and P̄ in log2 units, D0 and dims per sample")
    for r in cmp.failed:
        lines.append(f"{bullet}FAILED {r.model}: {r.error}")
    for w in cmp.warnings:
        lines.append(f"{bullet}warning: {w}")
    return [""] + lines


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
    if fmt == "json":
        return cmp.to_json() + "\n"
    if fmt == "csv":
        return render_csv(cmp)
    if fmt == "markdown":
        return render_markdown(cmp)
    return render_table(cmp)


# ------------------------------------------------------------------------------ CLI


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
    from .cli import _add_settings

    p = subparsers.add_parser("compare", help="compare the global metrics of several models, one row each")
    p.add_argument("models", nargs="*", metavar="MODEL", help="ONNX files")
    p.add_argument("--zoo", metavar="all|NAME,NAME", help="add built-in zoo models (graph-only)")
    _add_settings(p)
    p.add_argument("--sort", metavar="COLUMN", help=f"sort rows by a column: {', '.join(c.key for c in COLUMNS)} "
                   "(or a header/alias: C, P, pbar, D0, L, U, W, macs, vc)")
    p.add_argument("--desc", action="store_true", help="sort in descending order")
    p.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write the comparison to FILE")
    return p


def run_compare(args: argparse.Namespace) -> int:
    """`onnxlayer compare`: exit 0, or 2 when some model failed (after printing every row)."""
    import sys

    from .cli import _write
    from .graph import parse_input_shape

    sources: list[Any] = list(args.models)
    if args.zoo:
        sources += zoo_sources(args.zoo)
    if not sources:
        raise SettingsError("give model files and/or --zoo all|NAME,NAME")
    if args.sort:
        column(args.sort)  # fail before the work on a typo
    shapes = dict(parse_input_shape(s) for s in args.input_shape)
    result = compare(sources, shapes, tolerance=args.tolerance, domain=args.domain, strict=args.strict,
                     fuse=not args.no_fuse)
    if args.sort:
        result = result.sorted(args.sort, descending=args.desc)
    _write(render(result, args.format), args.output)
    for r in result.failed:
        print(f"onnxlayer: {r.model}: {r.error}", file=sys.stderr)
    for w in result.warnings:
        print(f"onnxlayer: warning: {w}", file=sys.stderr)
    return 2 if result.failed else 0


from ._callable import make_callable  # noqa: E402

make_callable(__name__, "compare")
