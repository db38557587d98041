"""Reports of `onnxlayer check`: text, JSON, JUnit XML, SARIF 2.1.0 and markdown.

JUnit: one `testsuite` per model, one `testcase` per rule (a failing error rule is a
`failure`, a skipped rule `skipped`, a failing warning rule passes with its finding in
`system-out`). SARIF: one `result` per failing or warning rule, located at the model file.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..policy import STATUSES, CheckResult, ModelCheck, RuleOutcome
from ..result import SCHEMA_VERSION, json_text

FORMATS = ("text", "json", "junit", "sarif", "markdown")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/onnxlayer/"
#: Characters XML 1.0 cannot hold (a model or rule name could carry them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render(result: CheckResult, fmt: str = "text") -> str:
    renderers = {"text": render_text, "json": render_json, "junit": render_junit, "sarif": render_sarif,
                 "markdown": render_markdown}
    return renderers[fmt](result)


def _line(o: RuleOutcome) -> str:
    """`name: measured (limit: ...)`, then the reason or the rule's message."""
    text = f"{o.rule.name}: {o.measured} (limit: {o.limit})"
    return f"{text} — {o.detail}" if o.detail else text


def _totals(result: CheckResult) -> str:
    words = {"pass": "passed", "fail": "failed", "warn": "warning(s)", "skip": "skipped"}
    return ", ".join(f"{result.count(s)} {words[s]}" for s in STATUSES)


# ------------------------------------------------------------------------------ text


def render_text(result: CheckResult) -> str:
    out = [f"policy: {result.policy}"]
    for m in result.models:
        out += ["", f"model: {m.model}" + (f"  (baseline: {m.baseline})" if m.baseline else "")]
        out += [f"  {o.status.upper():<4}  {_line(o)}" for o in m.outcomes]
    out += ["", f"result: {'PASS' if result.passed else 'FAIL'} — {_totals(result)} "
                f"({len(result.models)} model{'s' if len(result.models) != 1 else ''})"]
    out += [f"warning: {w}" for w in result.warnings]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ JSON


def to_dict(result: CheckResult) -> dict[str, Any]:
    """The JSON report; field names are stable (docs/deployment.md lists them)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "onnxlayer", "version": result.tool_version},
        "policy": result.policy,
        "passed": result.passed,
        "exit_code": result.exit_code,
        "counts": {s: result.count(s) for s in STATUSES},
        "models": [_model_dict(m) for m in result.models],
        "warnings": list(result.warnings),
    }


def _model_dict(m: ModelCheck) -> dict[str, Any]:
    return {
        "model": m.model,
        "path": m.path,
        "sha256": m.sha256,
        "baseline": m.baseline,
        "passed": m.passed,
        "counts": {s: m.count(s) for s in STATUSES},
        "metrics": dict(m.metrics),
        "rules": [{"name": o.rule.name, "kind": o.rule.kind, "severity": o.rule.severity, "status": o.status,
                   "measured": o.measured, "limit": o.limit, "value": o.value, "detail": o.detail,
                   "message": o.rule.message or None} for o in m.outcomes],
    }


def render_json(result: CheckResult) -> str:
    return json_text(to_dict(result)) + "\n"


# ------------------------------------------------------------------------------ JUnit XML


def _xml(text: Any) -> str:
    return _NOT_XML.sub("?", str(text))


def render_junit(result: CheckResult) -> str:
    root = ET.Element("testsuites", name="onnxlayer check", tests=str(sum(len(m.outcomes) for m in result.models)),
                      failures=str(result.count("fail")), errors="0")
    for m in result.models:
        suite = ET.SubElement(root, "testsuite", name=_xml(m.model), tests=str(len(m.outcomes)),
                              failures=str(m.count("fail")), errors="0", skipped=str(m.count("skip")),
                              package="onnxlayer.check")
        if m.path:
            suite.set("file", _xml(m.path))
        props = ET.SubElement(suite, "properties")
        for key, value in (("policy", result.policy), ("baseline", m.baseline), ("sha256", m.sha256)):
            if value:
                ET.SubElement(props, "property", name=key, value=_xml(value))
        for o in m.outcomes:
            case = ET.SubElement(suite, "testcase", name=_xml(o.rule.name), classname=f"onnxlayer.check.{o.rule.kind}")
            finding = f"{o.measured} (limit: {o.limit})"
            if o.status == "fail":
                failure = ET.SubElement(case, "failure", type=o.rule.kind, message=_xml(finding))
                failure.text = _xml(_line(o))
            elif o.status == "skip":
                ET.SubElement(case, "skipped", message=_xml(o.detail or finding))
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml(f"{o.status.upper()} {_line(o)}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------ SARIF 2.1.0


def artifact_uri(path: str) -> str:
    """A SARIF artifact URI: relative paths as forward-slash URI references (what code scanning
    resolves against the repository root), absolute ones as file: URIs."""
    p = Path(path)
    if p.is_absolute():
        return p.as_uri()
    return quote(p.as_posix(), safe="/")


def _rule_ids(result: CheckResult) -> dict[int, str]:
    """Stable, unique ids for the policy's rules: `kind/slug-of-name` (position in the policy)."""
    ids: dict[int, str] = {}
    taken: set[str] = set()
    first = result.models[0].outcomes if result.models else ()
    for i, o in enumerate(first):
        slug = re.sub(r"[^a-z0-9]+", "-", o.rule.name.lower()).strip("-") or "rule"
        rid = f"{o.rule.kind}/{slug}"
        if rid in taken:
            rid = f"{rid}-{i + 1}"
        taken.add(rid)
        ids[i] = rid
    return ids


def to_sarif(result: CheckResult) -> dict[str, Any]:
    ids = _rule_ids(result)
    first = result.models[0].outcomes if result.models else ()
    rules = [{
        "id": ids[i],
        "name": o.rule.name,
        "shortDescription": {"text": f"{o.rule.name} ({o.limit})"},
        "fullDescription": {"text": f"onnxlayer check rule [[{o.rule.kind}]]: {o.limit}"
                                    + (f". {o.rule.message}" if o.rule.message else "")},
        "defaultConfiguration": {"level": "error" if o.rule.severity == "error" else "warning"},
        "properties": {"kind": o.rule.kind},
    } for i, o in enumerate(first)]
    results = []
    for m in result.models:
        uri = artifact_uri(m.path or m.model)
        for i, o in enumerate(m.outcomes):
            if o.status not in ("fail", "warn"):
                continue
            results.append({
                "ruleId": ids[i],
                "ruleIndex": i,
                "level": "error" if o.status == "fail" else "warning",
                "message": {"text": _line(o)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}}}],
                "partialFingerprints": {"onnxlayerRule/v1": hashlib.sha256(f"{ids[i]}|{uri}".encode()).hexdigest()},
                "properties": {"measured": o.measured, "limit": o.limit, "model": m.model},
            })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "onnxlayer", "version": result.tool_version, "informationUri": INFORMATION_URI,
                                "rules": rules}},
            "invocations": [{"executionSuccessful": True, "exitCode": result.exit_code}],
            "results": results,
        }],
    }


def render_sarif(result: CheckResult) -> str:
    return json_text(to_sarif(result)) + "\n"


# ------------------------------------------------------------------------------ markdown


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: CheckResult) -> str:
    out = [f"### onnxlayer check: {'passed' if result.passed else 'FAILED'}", "",
           f"Policy `{_md(result.policy)}`: {_totals(result)}.", ""]
    for m in result.models:
        state = "passed" if m.passed else "failed"
        out += [f"#### `{_md(m.model)}`: {state}" + (f" (baseline `{_md(m.baseline)}`)" if m.baseline else ""), "",
                "| status | rule | measured | limit | note |", "|---|---|---|---|---|"]
        out += [f"| {'**' + o.status.upper() + '**' if o.status in ('fail', 'warn') else o.status.upper()} | "
                f"{_md(o.rule.name)} | {_md(o.measured)} | {_md(o.limit)} | {_md(o.detail)} |" for o in m.outcomes]
        out.append("")
    out += [f"> warning: {_md(w)}" for w in result.warnings]
    return "\n".join(out).rstrip("\n") + "\n"
