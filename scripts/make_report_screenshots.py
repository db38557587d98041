"""Screenshots of the HTML reports for the docs: docs/img/report-{single,compare,accuracy,audit,check}.png.

Writes the reports with the command line into a directory — ResNet-50 from the zoo; the zoo's
torchvision architectures compared with their published top-1 (docs/data); an audit of zoo
exports (one model in two versions) and a broken file; a check of two of them against a small
policy — and photographs each in headless Chromium (Playwright driving Debian's chromium).

    python scripts/make_report_screenshots.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import textwrap
from pathlib import Path

from playwright.sync_api import sync_playwright

from onnxlayer.cli import main

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
TOP1 = ROOT / "docs" / "data" / "torchvision_imagenet_top1.csv"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 860}
POLICY = """
version = 1
[[limit]]
name = "parameter budget"
metric = "params"
max = 20_000_000
[[limit]]
name = "compute budget"
metric = "macs"
max = 2_000_000_000
[[limit]]
name = "nonlinear depth"
metric = "depth"
max = 40
severity = "warning"
[[no_opaque_leaves]]
"""


def run(*argv: str, expect: int = 0) -> None:
    code = main(list(argv))
    if code != expect:
        raise SystemExit(f"onnxlayer {' '.join(argv)}: exit {code}, expected {expect}")


def write_reports(d: Path) -> dict[str, Path]:
    out = {kind: d / f"{kind}.html" for kind in ("single", "compare", "audit", "check")}
    run("report", "--zoo", "resnet50", "-o", str(out["single"]))
    with TOP1.open(newline="", encoding="utf-8") as f:
        zoo = ",".join(row["model"] for row in csv.DictReader(f))
    run("compare", "--zoo", zoo, "--accuracy", str(TOP1), "-o", str(d / "compare.txt"), "--report", str(out["compare"]))
    models = d / "models"
    models.mkdir(exist_ok=True)
    for name in ("resnet18", "resnet34", "mobilenet_v2", "efficientnet_b0"):
        run("zoo", "export", name, "-o", str(models / f"{name}.onnx"))
    (models / "broken.onnx").write_bytes(b"an interrupted upload")
    (d / "manifest.csv").write_text("path,name,version\nmodels/resnet18.onnx,classifier,1\nmodels/resnet34.onnx,classifier,2\n"
                                    "models/mobilenet_v2.onnx,mobile,1\nmodels/efficientnet_b0.onnx,mobile,2\n"
                                    "models/broken.onnx,candidate,1\n")
    (d / "policy.toml").write_text(textwrap.dedent(POLICY))
    run("audit", str(d / "manifest.csv"), "--store", str(d / "audit.db"), "--policy", str(d / "policy.toml"), "--quiet",
        "-o", str(d / "audit.txt"), "--report", str(out["audit"]), expect=1)
    run("check", str(models / "resnet34.onnx"), str(models / "mobilenet_v2.onnx"), "--policy", str(d / "policy.toml"),
        "-o", str(d / "check.txt"), "--report", str(out["check"]), expect=1)
    return out


def photograph(reports: dict[str, Path]) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        for kind, path in reports.items():
            page.goto(path.as_uri())
            page.screenshot(path=str(IMG / f"report-{kind}.png"))
            print(f"docs/img/report-{kind}.png")
        page.goto(reports["compare"].as_uri())
        page.locator("#accuracy").scroll_into_view_if_needed()
        page.evaluate("document.getElementById('accuracy').scrollIntoView()")
        page.screenshot(path=str(IMG / "report-accuracy.png"))
        print("docs/img/report-accuracy.png")
        browser.close()


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the reports to DIR and keep them")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        photograph(write_reports(args.keep))
        return
    with tempfile.TemporaryDirectory() as d:
        photograph(write_reports(Path(d)))


if __name__ == "__main__":
    main_()
