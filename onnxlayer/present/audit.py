"""Reports of `onnxlayer audit`: a table, JSON, CSV and JUnit XML.

Table: one row per entry (name, version, status, C, P, P̄, W, MACs, opaque leaves, policy
verdict, change against the previous version), the failure reasons under it, then the counts.
JUnit: one `testsuite`, one `testcase` per entry; a failed analysis or a failed error rule is a
`failure`, a skipped entry (not an ONNX model) `skipped`.
"""
from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from ..audit.result import AuditEntry, AuditResult, VersionChange
from .tables import fmt_float, fmt_int, text_table

FORMATS = ("table", "json", "csv", "junit")
#: Characters XML 1.0 cannot hold (a file name could carry them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DELTA_SYMBOLS = (("complexity_bits", "ΔC"), ("intrinsic_power", "ΔP"), ("intrinsic_power_mean", "ΔP̄"),
                  ("params", "ΔW"), ("macs", "ΔMACs"))


def render(result: AuditResult, fmt: str = "table") -> str:
    renderers = {"table": render_table, "json": render_json, "csv": render_csv, "junit": render_junit}
    return renderers[fmt](result)


def _signed(x: float | int | None) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, int):
        return f"{x:+,}"
    return f"{x:+.4g}"


def change_text(change: VersionChange | None) -> str:
    """The change column: the verdict, or the deltas and op types that differ."""
    if change is None:
        return "-"
    if not change.architectural_change:
        return f"no architectural change (vs v{change.previous})"
    parts = [f"{symbol} {_signed(change.deltas.get(key))}" for key, symbol in _DELTA_SYMBOLS
             if change.deltas.get(key) not in (None, 0, 0.0)]
    parts += [f"+{op}" for op in change.added_op_types] + [f"−{op}" for op in change.removed_op_types]
    return f"vs v{change.previous}: " + (", ".join(parts) if parts else "; ".join(change.reasons))


def _row(e: AuditEntry) -> list[str]:
    s = e.summary if e.ok else {}
    status = e.status + (" (cached)" if e.cached and e.ok else f" ({e.reason.split(':')[0]})" if e.reason else "")
    return [e.name, e.version or "-", status, fmt_float(s.get("complexity_bits"), 1),
            fmt_float(s.get("intrinsic_power"), 3), fmt_float(s.get("intrinsic_power_mean"), 3),
            fmt_int(s.get("params")), fmt_int(s.get("macs")),
            "-" if s.get("opaque_leaves") is None else str(s["opaque_leaves"]),
            "-" if e.check is None else e.check.status, change_text(e.change)]


def render_table(result: AuditResult) -> str:
    headers = ["name", "version", "status", "C (bits)", "P", "P̄", "W", "MACs", "opaque", "check", "change"]
    out = [text_table(headers, [_row(e) for e in result.entries], right=range(3, 9))]
    notes = [f"  {_label(e)}: {e.reason}" for e in result.entries if e.reason]
    for e in result.entries:
        if e.check is not None:
            notes += [f"  {_label(e)}: {r.status.upper()} {r.name}: {r.measured} (limit: {r.limit})"
                      + (f" — {r.detail}" if r.detail else "") for r in e.check.rules if r.status in ("fail", "warn")]
    if notes:
        out += ["", "notes:"] + notes
    out += ["", result.counts.line()]
    return "\n".join(out) + "\n"


def _label(e: AuditEntry) -> str:
    return e.name + (f" v{e.version}" if e.version else "")


def render_json(result: AuditResult) -> str:
    return result.to_json() + "\n"


def render_csv(result: AuditResult) -> str:
    rows = result.rows()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _xml(text: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def render_junit(result: AuditResult) -> str:
    entries = result.entries
    suite = ET.Element("testsuite", name="onnxlayer audit", tests=str(len(entries)),
                       failures=str(sum(1 for e in entries if e.failed)),
                       errors="0", skipped=str(sum(1 for e in entries if e.status == "skipped")))
    for e in entries:
        case = ET.SubElement(suite, "testcase", classname=_xml(e.source), name=_xml(_label(e)),
                             time=f"{e.seconds or 0.0:.3f}")
        if e.status == "failed":
            ET.SubElement(case, "failure", message=_xml(e.reason), type=e.reason.split(":")[0]).text = _xml(e.location)
        elif e.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml(e.reason))
        elif e.check is not None and e.check.status == "fail":
            failed = [r for r in e.check.rules if r.status == "fail"]
            ET.SubElement(case, "failure", message=_xml("; ".join(r.name for r in failed)), type="policy").text = \
                _xml("\n".join(f"{r.name}: {r.measured} (limit: {r.limit})" for r in failed))
        if e.ok:
            s = e.summary
            lines = [f"{k} = {s.get(k)}" for k in ("complexity_bits", "intrinsic_power", "intrinsic_power_mean",
                                                      "params", "macs", "opaque_leaves")]
            if e.change is not None:
                lines.append(f"change: {change_text(e.change)}")
            ET.SubElement(case, "system-out").text = _xml("\n".join(lines))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
