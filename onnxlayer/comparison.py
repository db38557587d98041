"""The record of `onnxlayer.compare`: one row of SPEC §3 global metrics per model, or why it failed.

Its columns name the summary fields (SPEC §6 names where one exists) with the short headers
and aliases that `sorted()` accepts; `onnxlayer.present.comparison` writes them out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import SettingsError
from .result import SCHEMA_VERSION, Summary, json_text
from .version import __version__


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
    aliases: tuple[str, ...] = ()


def _bottleneck_leaf(s: Summary) -> str | None:
    b = s.bottleneck
    return None if b is None else (b.leaf or f"input {b.tensor}")


COLUMNS: tuple[Column, ...] = (
    Column("model", "model", lambda s: None),
    Column("complexity_bits", "C bits", lambda s: s.complexity_bits, ("c", "complexity")),
    Column("complexity_log10_regions", "log10 R", lambda s: s.complexity_log10_regions, ("log10", "regions")),
    Column("intrinsic_power", "P", lambda s: s.intrinsic_power, ("p", "power")),
    Column("intrinsic_power_mean", "P̄", lambda s: s.intrinsic_power_mean, ("pbar", "p_mean", "mean_power")),
    Column("input_dim", "D0", lambda s: s.input_dim, ("d0",)),
    Column("output_dim", "out", lambda s: s.output_dim, ("out",)),
    Column("depth", "L", lambda s: s.depth, ("l",)),
    Column("units", "U", lambda s: s.units, ("u",)),
    Column("params", "W", lambda s: s.params, ("w",)),
    Column("macs", "MACs", lambda s: s.macs, ()),
    Column("bottleneck_dim", "bneck d", lambda s: None if s.bottleneck is None else s.bottleneck.dim, ("bottleneck",)),
    Column("bottleneck_leaf", "bneck leaf", _bottleneck_leaf),
    Column("vc_bound", "VC bound", lambda s: s.vc_bound, ("vc",)),
    Column("opaque_leaves", "opaque", lambda s: s.opaque_leaves, ("opaque",)),
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
        return json_text(self.to_dict(), indent)
