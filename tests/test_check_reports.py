"""`onnxlayer check` reports: JUnit XML valid against the JUnit XSD, SARIF 2.1.0 valid against
its JSON schema (both shipped in tests/schemas), and the markdown comment."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import onnx
import pytest
from lxml import etree

from builders import mlp
from onnxlayer.cli import main

SCHEMAS = Path(__file__).parent / "schemas"
POLICY = """
version = 1
[[limit]]
name = "parameter budget"
metric = "params"
max = 100
[[limit]]
name = "soft depth"
metric = "depth"
max = 1
severity = "warning"
message = "deeper than planned"
[[limit]]
name = "macs <ok> & fine"
metric = "macs"
max = 1000
[[change]]
name = "growth"
metric = "params"
max_increase = "5%"
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Two models under a relative path (as CI checks them from the repository root) and the policy."""
    monkeypatch.chdir(tmp_path)
    Path("models").mkdir()
    onnx.save(mlp(), "models/mlp.onnx")
    onnx.save(mlp((4, 2, 3)), "models/small mlp.onnx")
    Path("policy.toml").write_text(textwrap.dedent(POLICY))
    return ["models/mlp.onnx", "models/small mlp.onnx"]


def report(capsys, models, fmt) -> tuple[int, str, str]:
    code = main(["check", *models, "--policy", "policy.toml", "--format", fmt, "-o", f"report.{fmt}"])
    out, _ = capsys.readouterr()
    return code, Path(f"report.{fmt}").read_text(encoding="utf-8"), out


def test_junit_validates_against_the_xsd(setup, capsys):
    code, xml, out = report(capsys, setup, "junit")
    assert code == 1
    assert "FAIL  parameter budget" in out  # the console keeps the text report
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd")))
    doc = etree.fromstring(xml.encode("utf-8"))
    schema.assertValid(doc)
    suites = doc.findall("testsuite")
    assert [s.get("name") for s in suites] == setup  # one testsuite per model
    big = suites[0]
    assert (big.get("tests"), big.get("failures"), big.get("skipped")) == ("4", "1", "1")
    cases = big.findall("testcase")
    assert [c.get("name") for c in cases] == ["parameter budget", "soft depth", "macs <ok> & fine", "growth"]
    failure = cases[0].find("failure")
    assert failure.get("message") == "params = 139 (limit: params ≤ 100)"  # both numbers
    assert cases[1].find("failure") is None and "WARN soft depth: depth = 2" in cases[1].find("system-out").text
    assert cases[3].find("skipped").get("message") == "no baseline: no --baseline given"
    assert doc.get("failures") == "1" and suites[1].get("failures") == "0"


def test_sarif_validates_against_the_schema(setup, capsys):
    code, text, _ = report(capsys, setup, "sarif")
    assert code == 1
    log = json.loads(text)
    schema = json.loads((SCHEMAS / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["limit/parameter-budget", "limit/soft-depth", "limit/macs-ok-fine",
                                        "change/growth"]
    # a result per failing or warning rule: the big model fails the budget and warns on depth; the
    # small one (depth 1, (4·2+2) + (2·3+3) = 19 params) passes everything
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("limit/parameter-budget", "error"),
                                                            ("limit/soft-depth", "warning")]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/mlp.onnx"
    assert "params = 139 (limit: params ≤ 100)" in results[0]["message"]["text"]
    assert results[1]["message"]["text"].endswith("deeper than planned")


def test_sarif_uri_of_a_path_with_spaces(setup, capsys):
    Path("policy.toml").write_text('version = 1\n[[limit]]\nname = "tiny"\nmetric = "params"\nmax = 1\n')
    _, text, _ = report(capsys, setup[1:], "sarif")
    (result,) = json.loads(text)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/small%20mlp.onnx"


def test_markdown_comment(setup, capsys):
    code, md, _ = report(capsys, setup, "markdown")
    assert code == 1
    assert md.startswith("### onnxlayer check: FAILED\n")
    assert "#### `models/mlp.onnx`: failed" in md and "#### `models/small mlp.onnx`: passed" in md
    assert "| **FAIL** | parameter budget | params = 139 | params ≤ 100 |  |" in md
    assert "| **WARN** | soft depth | depth = 2 | depth ≤ 1 | deeper than planned |" in md
