"""The data of the accuracy study (docs/study.md): published top-1 tables, and timm graphs to compare.

    python scripts/study.py torchvision           # docs/data/torchvision_imagenet_top1.csv from torchvision's weights
    onnxlayer compare --zoo NAME,... --accuracy docs/data/torchvision_imagenet_top1.csv
    python scripts/study.py select                # docs/data/timm_imagenet_top1.csv from timm's results CSV
    python scripts/study.py export DIR            # one ONNX graph per selected timm architecture, random weights
    onnxlayer compare DIR/*.onnx --accuracy docs/data/timm_imagenet_top1.csv

`torchvision` reads, for every zoo architecture torchvision ships, the ImageNet-1K top-1 of its
IMAGENET1K_V1 weights (`Weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]`, the torchvision
package's own metadata). `select` applies one fixed rule to timm's published `results/results-imagenet.csv` (stored as
docs/data/timm_results_imagenet.csv): weights trained on ImageNet-1k only (the tag names in1k and
no other pretraining data), evaluated at 224×224, at most 30 M parameters, and for each
architecture its first row (the file is sorted by top-1, so its best such weights). `export`
builds each one with `timm.create_model(pretrained=False)` (the metrics read no weight values),
adds noise of 1e-3 to every parameter (the legacy exporter stores equal tensors once, which
would change W), exports it with the legacy torch exporter at opset 18 in a subprocess
(`--exporter dynamo` for a second pass over what the legacy exporter cannot export), and
keeps the graph only: the weights go to an external file that is then deleted (onnxlayer never
reads it). Needs the `torch` extra, torchvision and timm.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "docs" / "data"
RESULTS = DATA / "timm_results_imagenet.csv"
SELECTED = DATA / "timm_imagenet_top1.csv"
TORCHVISION = DATA / "torchvision_imagenet_top1.csv"
#: Tags that name pretraining data beyond ImageNet-1k (or a pretrained CLIP/MIM backbone).
OTHER_DATA = ("in21k", "in22k", "in12k", "jft", "ig1b", "yfcc", "laion", "openai", "m38m", "m30m", "swag", "seer",
              "clip", "mim")
IMAGE_SIZE = 224
MAX_PARAMS_M = 30.0
NOISE = 1e-3


def selected_rows(results: Path = RESULTS) -> list[dict[str, str]]:
    """The rule of the module docstring applied to timm's results, in the file's order."""
    chosen: dict[str, dict[str, str]] = {}
    with results.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            arch, _, tag = row["model"].partition(".")
            if not tag or "in1k" not in tag or any(o in tag for o in OTHER_DATA):
                continue
            if int(row["img_size"]) != IMAGE_SIZE or float(row["param_count"].replace(",", "")) > MAX_PARAMS_M:
                continue
            chosen.setdefault(arch, {"model": arch, "top1": row["top1"], "weights": row["model"],
                                     "img_size": row["img_size"], "param_count_m": row["param_count"]})
    return list(chosen.values())


def select() -> None:
    rows = selected_rows()
    with SELECTED.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} architectures -> {SELECTED}")


def torchvision_top1() -> None:
    """The IMAGENET1K_V1 top-1 of each zoo architecture torchvision has weights for."""
    lib = _declare_torchvision_ops()
    import torchvision
    from torchvision import models

    from onnxlayer.models_access import zoo_module

    rows = []
    for name in zoo_module().names():
        try:
            weights = models.get_model_weights(name)
        except ValueError:  # not a torchvision architecture (mlp, lenet5, mobilenet_v1, bert_base, unet)
            continue
        meta = weights.IMAGENET1K_V1.meta
        rows.append({"model": name, "top1": meta["_metrics"]["ImageNet-1K"]["acc@1"], "weights": "IMAGENET1K_V1",
                     "num_params": meta["num_params"], "source": f"torchvision {torchvision.__version__.split('+')[0]}"})
    with TORCHVISION.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} architectures -> {TORCHVISION}")
    del lib


def _declare_torchvision_ops() -> object:
    """torchvision's C extension is a CUDA build here: declare its op schemas before timm imports it."""
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return lib  # keep it alive: the definitions hold while the library object does


def export_one(arch: str, size: int, out: Path, exporter: str = "legacy") -> None:
    """Build `arch` with random weights, export it, save the graph without its weights."""
    import onnx
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)
    lib = _declare_torchvision_ops()
    import timm

    from onnxlayer.converters import convert

    model = timm.create_model(arch, pretrained=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * NOISE)
    proto = convert(model, (torch.randn(1, 3, size, size),), exporter=exporter, opset=18)
    weights = out.with_suffix(".weights")
    onnx.save(proto, str(out), save_as_external_data=True, all_tensors_to_one_file=True, location=weights.name,
              size_threshold=1024)
    weights.unlink(missing_ok=True)
    del lib


def export(directory: Path, timeout: float, only: list[str], exporter: str = "legacy") -> None:
    """Every selected architecture not yet in `directory`, one subprocess each; failures to failures.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [r for r in selected_rows() if not only or r["model"] in only]
    for i, row in enumerate(rows, 1):
        out = directory / f"{row['model']}.onnx"
        if out.exists():
            continue
        start = time.perf_counter()
        cmd = [sys.executable, __file__, "one", row["model"], row["img_size"], str(out), "--exporter", exporter]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            error = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
        except subprocess.TimeoutExpired:
            error = f"timeout after {timeout:g} s"
        status = "ok" if error is None else f"FAILED: {error}"
        print(f"[{i}/{len(rows)}] {row['model']}: {status} ({time.perf_counter() - start:.0f} s)", flush=True)
        if error is not None:
            with (directory / "failures.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps({"model": row["model"], "exporter": exporter, "error": error}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("torchvision", help="write docs/data/torchvision_imagenet_top1.csv")
    sub.add_parser("select", help="write docs/data/timm_imagenet_top1.csv")
    p = sub.add_parser("export", help="export the selected architectures to DIR")
    p.add_argument("directory", type=Path)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--only", nargs="*", default=[])
    p.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy",
                   help="torch exporter (default legacy; dynamo for what legacy cannot export)")
    one = sub.add_parser("one", help=argparse.SUPPRESS)
    one.add_argument("arch")
    one.add_argument("size", type=int)
    one.add_argument("out", type=Path)
    one.add_argument("--exporter", default="legacy")
    args = parser.parse_args()
    if args.command == "torchvision":
        torchvision_top1()
    elif args.command == "select":
        select()
    elif args.command == "export":
        export(args.directory, args.timeout, args.only, args.exporter)
    else:
        export_one(args.arch, args.size, args.out, args.exporter)


if __name__ == "__main__":
    main()
