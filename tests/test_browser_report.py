"""The HTML reports in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) opens a single-model, a compare (with accuracy), an audit and a check report from
file:// and finds no console error, no request but the file itself, every plot drawn with a
size, sortable columns that reorder the rows, filters that hide rows, and tree nodes that show
their children when expanded. Skipped when Playwright or Chromium is missing (.ci/run installs both)."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import onnx
import pytest

import builders
from onnxlayer.cli import main

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)
#: Playwright cannot download its own browser here: Debian's, with no background traffic.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DATA = Path(__file__).resolve().parent.parent / "docs" / "data"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """One report of each kind, written by the command line."""
    d = tmp_path_factory.mktemp("reports")
    out = {kind: d / f"{kind}.html" for kind in ("single", "compare", "audit", "check")}
    assert main(["report", "--zoo", "resnet18", "-o", str(out["single"])]) == 0
    assert main(["compare", "--zoo", "resnet18,resnet34,alexnet,vgg11,squeezenet1_0,mobilenet_v2,mlp",
                 "--accuracy", str(DATA / "torchvision_imagenet_top1.csv"), "-o", str(d / "compare.txt"),
                 "--report", str(out["compare"])]) == 0
    for version, hidden in (("1", 4), ("2", 6)):
        onnx.save(builders.mlp((4, hidden, 3)), d / f"net{version}.onnx")
    onnx.save(builders.cnn(), d / "cnn.onnx")
    (d / "broken.onnx").write_bytes(b"not a model")
    (d / "models.csv").write_text("path,name,version\nnet1.onnx,net,1\nnet2.onnx,net,2\ncnn.onnx,cnn,1\nbroken.onnx,broken,1\n")
    assert main(["audit", str(d / "models.csv"), "--store", str(d / "store.db"), "--jobs", "1", "--quiet",
                 "-o", str(d / "audit.txt"), "--report", str(out["audit"])]) == 1  # the broken file fails
    (d / "policy.toml").write_text(textwrap.dedent("""
        version = 1
        [[limit]]
        name = "parameter budget"
        metric = "params"
        max = 100
        """))
    assert main(["check", str(d / "net1.onnx"), str(d / "cnn.onnx"), "--policy", str(d / "policy.toml"),
                 "-o", str(d / "check.txt"), "--report", str(out["check"])]) == 1  # the CNN has 650 + 40 > 100 params
    return out


class Opened:
    """A report open in a page, with what the page logged and requested."""

    def __init__(self, browser, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.as_uri()
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")

    def close(self) -> None:
        self.context.close()

    def column(self, table: str, index: int) -> list[str]:
        """The sort keys (data-v, else the text) of a column's visible rows, top to bottom."""
        return self.page.eval_on_selector_all(
            f"#{table} tbody tr:not([hidden])",
            f"rows => rows.map(r => {{ const c = r.cells[{index}]; return c.getAttribute('data-v') ?? c.textContent.trim(); }})")


@pytest.fixture
def opened(browser, reports):
    pages = []

    def open_(kind: str) -> Opened:
        pages.append(Opened(browser, reports[kind]))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


@pytest.mark.parametrize("kind, plots", [("single", 2), ("compare", 14), ("audit", 1), ("check", 0)])
def test_opens_offline_without_errors_and_draws_every_plot(opened, kind, plots):
    report = opened(kind)
    assert report.problems == []
    assert report.requests == [report.url]  # the document itself, nothing else
    boxes = [p.bounding_box() for p in report.page.query_selector_all("svg.plot")]
    assert len(boxes) == plots
    assert all(b is not None and b["width"] > 100 and b["height"] > 50 for b in boxes)


def numbers(values: list[str]) -> list[float]:
    return [float(v) for v in values if v != ""]


def test_single_model_profile_marks_the_bottleneck(opened):
    report = opened("single")
    profile = report.page.locator("#plot-profile")
    assert profile.locator("circle.dot").count() == 18  # ResNet-18: 1 + 2 × 8 ReLUs and the max pool
    assert profile.locator("g.mark").is_visible()
    assert "bottleneck d = 512" in profile.locator("text.guide-label").all_text_contents()  # SVG text has no innerText


def test_sorting_a_column_reorders_the_rows(opened):
    report = opened("single")
    before = numbers(report.column("leaves-table", 8))  # C bits
    header = report.page.locator("#leaves-table thead th").nth(8)
    header.click()
    ascending = numbers(report.column("leaves-table", 8))
    assert ascending == sorted(before) and ascending != before
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert numbers(report.column("leaves-table", 8)) == sorted(before, reverse=True)


def test_filters_hide_rows(opened):
    report = opened("single")
    total = report.page.locator("#leaves-table tbody tr").count()
    report.page.select_option("select[data-key=op]", "Relu")
    ops = report.column("leaves-table", 2)
    assert ops and set(ops) == {"Relu"}
    assert report.page.inner_text("[data-count-for=leaves-table]") == f"{len(ops)} of {total} rows"
    report.page.fill("input[data-key=scope]", "layer4")
    assert 0 < len(report.column("leaves-table", 2)) < len(ops)


def test_expanding_a_tree_node_shows_its_children(opened):
    report = opened("single")
    closed = report.page.locator("#tree details:not([open])").first.element_handle()
    child = closed.query_selector(":scope > details, :scope > div.leaf")
    assert not child.is_visible()
    closed.query_selector(":scope > summary").click()
    assert child.is_visible() and closed.get_attribute("open") is not None
    report.page.click("button[data-tree-action=collapse]")
    assert report.page.locator("#tree details[open]").count() == 0
    report.page.click("button[data-tree-action=expand]")
    assert report.page.locator("#tree details:not([open])").count() == 0


def test_compare_report_sorts_models_and_shows_the_study(opened):
    report = opened("compare")
    report.page.locator("#models-table thead th", has_text="MACs").click()
    macs = numbers(report.column("models-table", 10))
    assert len(macs) == 7 and macs == sorted(macs)
    assert report.page.locator("#correlations-table tbody tr").count() == 7
    assert report.page.locator("svg[id^=plot-accuracy-]").count() == 7
    # six of the seven have a published top-1 (the MLP is not an ImageNet model)
    assert report.page.locator("#plot-accuracy-params circle.dot").count() == 6


def test_audit_report_filters_by_status_and_shows_version_changes(opened):
    report = opened("audit")
    assert report.column("entries-table", 2) == ["ok", "ok", "ok", "failed"]
    report.page.uncheck("input[data-key=status][value=ok]")
    assert report.column("entries-table", 0) == ["broken"]
    report.page.check("input[data-key=status][value=ok]")
    changes = report.page.eval_on_selector_all("#entries-table tbody tr", "rows => rows.map(r => r.cells[10].textContent)")
    assert changes[1].startswith("vs v1: ")


def test_check_report_lists_rules_with_their_status(opened):
    report = opened("check")
    assert report.page.locator("#rules-table tbody tr").count() == 2
    assert sorted(report.page.locator("#rules-table td.status-pass, #rules-table td.status-fail").all_text_contents()) == ["FAIL", "PASS"]
