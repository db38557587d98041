"""Audit throughput: every zoo architecture exported graph-only to a directory (a JSONL manifest
gives BERT its sequence length), audited into a fresh store at each --jobs, models per second.

Each run starts its worker processes; a second run of the same store (everything cached) is
timed too. One run on this shared, noisy machine; no assertion is made.

    python benchmarks/bench_audit.py [--jobs 1 2] [--executor local|dask]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import onnx

from onnxlayer.audit import audit
from onnxlayer.models_access import zoo_input_shapes, zoo_model, zoo_module


def export_zoo(root: Path) -> Path:
    """Every zoo model as `root/NAME.onnx` (graph-only), and a manifest naming them."""
    rows = []
    for name in zoo_module().names():
        path = root / f"{name}.onnx"
        onnx.save(zoo_model(name), path)
        shapes = {k: list(v) for k, v in zoo_input_shapes(name).items()}
        rows.append({"path": path.name, "name": name, **({"input_shapes": shapes} if shapes else {})})
    manifest = root / "zoo.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = export_zoo(root)
        print(f"{'jobs':>4}  {'models':>6}  {'first run':>10}  {'models/s':>8}  {'cached run':>10}")
        for jobs in args.jobs:
            store = root / f"audit-{jobs}.db"
            start = time.perf_counter()
            result = audit([manifest], store=store, jobs=jobs, executor=args.executor)
            first = time.perf_counter() - start
            assert result.counts.failed == 0, [e.reason for e in result.entries if e.reason]
            start = time.perf_counter()
            audit([manifest], store=store, jobs=jobs, executor=args.executor)
            cached = time.perf_counter() - start
            n = len(result.entries)
            print(f"{jobs:>4}  {n:>6}  {first:>9.2f}s  {n / first:>8.1f}  {cached:>9.2f}s")


if __name__ == "__main__":
    main()
