"""HTML reports without a browser: one self-contained page per result, no outside reference,
plots that hold the numbers SPEC §5 gives, tables with a row per leaf, model or rule, the CLI.
(tests/test_browser_report.py opens them in Chromium.)"""
from __future__ import annotations

import math
import textwrap
from html.parser import HTMLParser

import onnx
import pytest
from onnx import helper

import builders
from onnxlayer.api import compare, layer_expression
from onnxlayer.audit.result import AuditCounts, AuditEntry, AuditResult
from onnxlayer.cli import main
from onnxlayer.gate import check
from onnxlayer.present import html
from onnxlayer.study import accuracy_study

SPEC_EX1_RELU_BITS = math.log2(163)  # SPEC §5 example 1: each ReLU cuts c(8, 2, 4) = log2 163 bits


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], ""

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, **attrs: str) -> list["Node"]:
        def has(n: Node) -> bool:
            return all((k == "class_" and v in (n.attrs.get("class") or "").split()) or n.attrs.get(k) == v
                       for k, v in attrs.items())
        return [n for n in self.iter() if n.tag == tag and has(n)]

    def by_id(self, ident: str) -> "Node":
        (node,) = [n for n in self.iter() if n.attrs.get("id") == ident]
        return node

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


VOID = {"meta", "input", "br", "img", "link", "hr"}


class TreeBuilder(HTMLParser):
    """The page as a tree; fails on a closing tag that closes nothing open (malformed nesting)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.text += data


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder.root


def assert_self_contained(page: str) -> Node:
    """One document with the CSP that forbids every request, and no outside reference in it."""
    assert page.startswith("<!DOCTYPE html>")
    doc = parse(page)
    (csp,) = doc.find_all("meta", **{"http-equiv": "Content-Security-Policy"})
    assert csp.attrs["content"].startswith("default-src 'none';")
    for node in doc.iter():
        for name, value in node.attrs.items():
            if name in ("src", "href", "action", "poster", "data") and value:
                assert value.startswith("#"), f"<{node.tag} {name}={value!r}> points outside the page"
    assert len(doc.find_all("script")) == 1 and len(doc.find_all("style")) == 1
    return doc


def rows(doc: Node, table_id: str) -> list[Node]:
    return doc.by_id(table_id).find_all("tbody")[0].find_all("tr")


# ------------------------------------------------------------------------------ one model


@pytest.fixture(scope="module")
def mlp_page() -> tuple[str, Node]:
    page = html.render_analysis(layer_expression(builders.mlp(), path="mlp.onnx"))
    return page, assert_self_contained(page)


def test_summary_card(mlp_page):
    page, doc = mlp_page
    tiles = {t.find_all("div", class_="k")[0].text: t.find_all("div", class_="v")[0].text for t in doc.find_all("div", class_="tile")}
    assert tiles["complexity C (bits)"] == f"{2 * SPEC_EX1_RELU_BITS:,.1f}"
    assert tiles["intrinsic power P"] == f"{math.log2(3 / 4):.3f}" and tiles["input dim D0"] == "4"
    assert tiles["bottleneck d"] == "3" and tiles["opaque leaves"] == "0"
    assert "no warnings" in doc.by_id("summary").all_text()


def test_profile_plots_each_nonlinear_leaf_and_marks_the_bottleneck(mlp_page):
    _, doc = mlp_page
    plot = doc.by_id("plot-profile")
    dots = plot.find_all("circle", class_="dot")
    assert len(dots) == 2  # the two ReLUs; both see d_in = 4 = D0, so they sit on the D0 line
    assert {d.find_all("title")[0].text.split(" (")[0] for d in dots} == {"/act0/Relu", "/act1/Relu"}
    assert len({d.attrs["cy"] for d in dots}) == 1
    guides = [t.text for t in plot.find_all("text", class_="guide-label")]
    assert guides == ["D0 = 4", "bottleneck d = 3"]
    (mark,) = plot.find_all("g", class_="mark")
    assert mark.find_all("text")[0].text == "bottleneck" and "at /fc2/Gemm" in mark.all_text()


def test_blocks_and_tree_follow_the_expression(mlp_page):
    _, doc = mlp_page
    # the MLP is a series of its five leaves: five bars, one tree node over five leaf lines
    bars = doc.by_id("plot-blocks").find_all("rect", class_="bar")
    assert [b.find_all("title")[0].text.split(":")[0] for b in bars] == ["fc0", "act0", "fc1", "act1", "fc2"]  # the blocks take their scope names
    c = [float(r.find_all("td")[2].attrs["data-v"]) for r in rows(doc, "blocks-table")]
    assert c == pytest.approx([0, SPEC_EX1_RELU_BITS, 0, SPEC_EX1_RELU_BITS, 0])
    tree = doc.by_id("tree")
    (details,) = tree.find_all("details")
    assert len(details.find_all("div", class_="leaf")) == 5 and "open" in details.attrs


def test_leaves_table_filterable(mlp_page):
    _, doc = mlp_page
    leaves = rows(doc, "leaves-table")
    assert [r.attrs["data-op"] for r in leaves] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    relu = leaves[1].find_all("td")
    assert relu[7].text == "8×2" and float(relu[8].attrs["data-v"]) == pytest.approx(SPEC_EX1_RELU_BITS)
    ops = [o.attrs["value"] for o in doc.find_all("select", **{"data-key": "op"})[0].find_all("option")]
    assert ops == ["", "Gemm", "Relu"]


def test_opaque_leaves_are_highlighted():
    m = builders.mlp()
    m.graph.node[1].op_type, m.graph.node[1].domain = "Mystery", "com.example"
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    m.graph.value_info.append(helper.make_tensor_value_info("a0", onnx.TensorProto.FLOAT, [1, 8]))
    doc = assert_self_contained(html.render_analysis(layer_expression(m)))
    (bad,) = doc.find_all("div", class_="bad")
    assert bad.find_all("div", class_="k")[0].text == "opaque leaves" and bad.find_all("div", class_="v")[0].text == "1"
    (row,) = [r for r in rows(doc, "leaves-table") if r.attrs.get("class") == "opaque"]
    assert row.attrs["data-op"] == "Mystery"
    assert "com.example:Mystery ×1" in doc.find_all("p", class_="opaque-note")[0].text


def test_a_large_model_is_shown_in_part_and_counted(monkeypatch):
    """Past MOST_ROWS, MOST_BARS and MOST_TREE_LINES the page keeps the largest rows in network
    order, groups consecutive blocks into bars and cuts the tree, and says what it left out. The
    MLP's five leaves: Gemm (0 bits), ReLU (log2 163), Gemm, ReLU, Gemm."""
    monkeypatch.setattr(html, "MOST_ROWS", 2)
    monkeypatch.setattr(html, "MOST_BARS", 2)
    monkeypatch.setattr(html, "MOST_TREE_LINES", 3)
    doc = assert_self_contained(html.render_analysis(layer_expression(builders.mlp(), path="mlp.onnx")))
    leaves = rows(doc, "leaves-table")
    assert [(r.find_all("td")[0].text, r.attrs["data-op"]) for r in leaves] == [("2", "Relu"), ("4", "Relu")]
    assert [r.find_all("td")[1].text for r in rows(doc, "blocks-table")] == ["act0", "act1"]
    notes = [n.text for n in doc.find_all("p", class_="left-out")]
    assert [n.split(" shown")[0] for n in notes] == ["2 of 5 blocks", "2 of 5 leaves"]
    bars = doc.by_id("plot-blocks").find_all("rect", class_="bar")  # three blocks to a bar: 0 + R + 0, then R + 0
    assert [b.find_all("title")[0].text.split(":")[0] for b in bars] == ["blocks 1–3", "blocks 4–5"]
    assert [b.find_all("title")[0].text.split("= ")[1] for b in bars] == [f"{SPEC_EX1_RELU_BITS:,.1f} bits in all"] * 2
    tree = doc.by_id("tree")  # the series and its first two leaves, then the other three counted
    assert len(tree.find_all("div", class_="leaf")) == 3
    assert tree.find_all("div", class_="left-out")[0].text.startswith("… 3 more blocks not shown")


def test_a_dense_profile_is_drawn_as_its_envelope(monkeypatch):
    """Past MOST_POINTS dots, the leaves in depth order are cut into MOST_POINTS // 2 runs, each
    drawn as its lowest and highest d_in, or once where the run has one d_in."""
    points = [html.Point(d, y, f"leaf {d}") for d, y in [(1, 5), (2, 3), (3, 3), (4, 7), (5, 7), (6, 7)]]
    assert html._envelope(points, 6) == points
    kept = html._envelope(points, 4)  # two runs of three: depths 1-3 (d_in 2^5, 2^3, 2^3), then 4-6 (2^7 each)
    assert [(p.x, p.y) for p in kept] == [(2, 3), (1, 5), (4, 7)]
    assert [p.tip for p in kept] == ["leaf 2 (lowest of the 3 leaves at depths 1–3)", "leaf 1 (highest of the 3 leaves at depths 1–3)",
                                     "leaf 4 (the d_in of the 3 leaves at depths 4–6)"]
    monkeypatch.setattr(html, "MOST_POINTS", 1)  # the MLP's two ReLUs (depths 1 and 2, d_in 4) as one dot
    doc = assert_self_contained(html.render_analysis(layer_expression(builders.mlp(), path="mlp.onnx")))
    assert len(doc.by_id("plot-profile").find_all("circle", class_="dot")) == 1
    assert "The 2 leaves are drawn as 1 dot: in depth order, each run of 2 leaves" in doc.by_id("profile").all_text()


def test_opaque_leaves_are_never_left_out(monkeypatch):
    monkeypatch.setattr(html, "MOST_ROWS", 1)
    m = builders.mlp()
    m.graph.node[3].op_type, m.graph.node[3].domain = "Mystery", "com.example"  # the second ReLU
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    m.graph.value_info.append(helper.make_tensor_value_info("a1", onnx.TensorProto.FLOAT, [1, 8]))
    doc = assert_self_contained(html.render_analysis(layer_expression(m)))
    assert [r.attrs["data-op"] for r in rows(doc, "leaves-table")] == ["Mystery"]  # not the first ReLU, of more bits


# ------------------------------------------------------------------------------ several models


@pytest.fixture(scope="module")
def mlps():
    cmp = compare([(f"mlp{h}", builders.mlp((4, h, 3))) for h in (2, 3, 5, 8)] + [("broken", b"x")])
    return cmp, accuracy_study(cmp, {"mlp2": 60.0, "mlp3": 65.0, "mlp5": 63.0, "mlp8": 70.0}, "acc.csv", resamples=200)


def test_comparison_page(mlps):
    cmp, study = mlps
    doc = assert_self_contained(html.render_comparison(cmp, study))
    models = rows(doc, "models-table")
    assert [r.find_all("td")[0].text for r in models] == ["mlp2", "mlp3", "mlp5", "mlp8", "broken"]
    assert [r.attrs["data-status"] for r in models] == ["ok"] * 4 + ["failed"]
    assert [r.find_all("td")[-1].text for r in models] == ["60", "65", "63", "70", "-"]
    plots = [p.attrs["id"] for p in doc.find_all("svg", class_="plot")]
    assert len([p for p in plots if p.startswith("plot-") and not p.startswith(("plot-accuracy", "plot-profiles"))]) == 6
    assert len([p for p in plots if p.startswith("plot-accuracy-")]) == 7 and "plot-profiles" in plots
    # four ok models: four points in each scatter of two metrics every model has
    assert len(doc.by_id("plot-macs-params").find_all("circle", class_="dot")) == 4
    assert len(rows(doc, "correlations-table")) == 7
    assert len(doc.by_id("plot-profiles").find_all("polyline")) == 0  # each MLP has one nonlinear depth: a dot, no line
    assert "FAILED broken" in doc.by_id("models").all_text()


def test_comparison_page_without_study(mlps):
    cmp, _ = mlps
    doc = assert_self_contained(html.render_comparison(cmp))
    assert not [n for n in doc.iter() if n.attrs.get("id") == "accuracy"]


# ------------------------------------------------------------------------------ check and audit

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
"""


def test_check_page(tmp_path):
    onnx.save(builders.mlp(), tmp_path / "mlp.onnx")
    onnx.save(builders.mlp((4, 2, 3)), tmp_path / "small.onnx")
    (tmp_path / "policy.toml").write_text(textwrap.dedent(POLICY))
    result = check([str(tmp_path / "mlp.onnx"), str(tmp_path / "small.onnx")], tmp_path / "policy.toml")
    doc = assert_self_contained(html.render_check(result))
    rules = rows(doc, "rules-table")
    # W = 139 for the SPEC MLP (over 100: FAIL) and depth 2 > 1 (WARN); 4·2+2+2·3+3 = 19 and depth 1 for the small one
    statuses = {(r.attrs["data-model"].rsplit("/", 1)[-1], r.find_all("td")[2].text): r.attrs["data-status"] for r in rules}
    assert statuses == {("mlp.onnx", "parameter budget"): "fail", ("mlp.onnx", "soft depth"): "warn",
                        ("small.onnx", "parameter budget"): "pass", ("small.onnx", "soft depth"): "pass"}
    assert doc.find_all("div", class_="tile")[0].all_text() == "resultFAIL"


def test_audit_page(tmp_path):
    from onnxlayer.audit import audit

    for version, hidden in (("1", 4), ("2", 6)):
        onnx.save(builders.mlp((4, hidden, 3)), tmp_path / f"net{version}.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    (tmp_path / "models.csv").write_text("path,name,version\nnet1.onnx,net,1\nnet2.onnx,net,2\nbroken.onnx,broken,1\n")
    result = audit([str(tmp_path / "models.csv")], store=str(tmp_path / "store.db"), jobs=1)
    doc = assert_self_contained(html.render_audit(result))
    entries = rows(doc, "entries-table")
    assert [(r.attrs["data-name"], r.attrs["data-status"]) for r in entries] == [("net", "ok"), ("net", "ok"), ("broken", "failed")]
    change = entries[1].find_all("td")[10].text
    assert change.startswith("vs v1: ") and f"ΔW +{(4 * 6 + 6 + 6 * 3 + 3) - (4 * 4 + 4 + 4 * 3 + 3)}" in change
    boxes = [b.attrs["value"] for b in doc.find_all("input", **{"data-key": "status"})]
    assert boxes == ["ok", "failed", "skipped"]
    assert len(doc.by_id("plot-audit").find_all("circle", class_="dot")) == 2


def test_a_hundred_model_audit_report_is_small(tmp_path):
    """The issue's bound: < 5 MB for a 100-model audit (entries carrying a real analysis summary)."""
    summary = compare([("m", builders.cnn())]).rows[0].summary
    fields = {k: getattr(summary, k) for k in ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "input_dim",
                                              "params", "macs", "opaque_leaves", "depth", "units")}
    entries = tuple(AuditEntry(source=str(tmp_path), name=f"team/project-{k // 4}/model_{k}", version=str(k % 4 + 1),
                               location=str(tmp_path / f"model_{k}.onnx"), status="ok", sha256="0" * 64,
                               seconds=0.5, summary=fields) for k in range(100))
    result = AuditResult(entries, AuditCounts(analysed=100), str(tmp_path / "store.db"), {"tolerance": 0.01}, {})
    page = html.render_audit(result)
    assert len(rows(assert_self_contained(page), "entries-table")) == 100
    assert len(page.encode()) < 5 * 2**20


# ------------------------------------------------------------------------------ command line


def test_cli_report_one_zoo_model(tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", "--zoo", "mlp", "-o", str(out)]) == 0
    doc = assert_self_contained(out.read_text(encoding="utf-8"))
    assert doc.find_all("h1")[0].text == "onnxlayer report: zoo:mlp"


def test_cli_report_several_models_with_accuracy(tmp_path, capsys):
    for h in (2, 3, 5):
        onnx.save(builders.mlp((4, h, 3)), tmp_path / f"m{h}.onnx")
    (tmp_path / "acc.csv").write_text("model,top1\nm2,1\nm3,3\nm5,2\n")
    out = tmp_path / "r.html"
    code = main(["report", *(str(tmp_path / f"m{h}.onnx") for h in (2, 3, 5)), "--accuracy", str(tmp_path / "acc.csv"),
                 "-o", str(out)])
    assert code == 0
    doc = assert_self_contained(out.read_text(encoding="utf-8"))
    assert len(rows(doc, "correlations-table")) == 7


@pytest.mark.parametrize("argv, message", [
    (["report"], "give a model file"),
    (["report", "--zoo", "mlp", "--accuracy", "x.csv"], "--accuracy correlates several models"),
    (["compare", "--zoo", "mlp,lenet5", "--accuracy", "missing.csv"], "--accuracy missing.csv: cannot read it"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_report_to_a_terminal_asks_for_a_file(capsys, monkeypatch):
    """Without -o the page goes to stdout, unless stdout is a terminal: then one line, exit 2, no work."""
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(["report", "--zoo", "mlp"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "onnxlayer: error: the report is an HTML page: give -o FILE.html, or redirect the output to a file\n"


def test_cli_compare_report_and_accuracy(tmp_path, capsys):
    (tmp_path / "acc.csv").write_text("model,top1\nmlp,50\nlenet5,99\nresnet18,69.8\n")
    out = tmp_path / "c.html"
    code = main(["compare", "--zoo", "mlp,lenet5,resnet18", "--accuracy", str(tmp_path / "acc.csv"), "--format", "json",
                 "--report", str(out)])
    assert code == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in data["accuracy_study"]["models"]] == ["zoo:mlp", "zoo:lenet5", "zoo:resnet18"]
    assert len(rows(assert_self_contained(out.read_text(encoding="utf-8")), "models-table")) == 3
