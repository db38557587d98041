"""Analyse every ONNX file under a directory (real exports) and print one row per model.

    python benchmarks/sweep_exports.py /path/to/exports [--json out.json]

Rows: seconds, C (bits), P, P̄, depth, params, opaque leaves, or the error. Exit 1 if any
model has opaque leaves or fails (a sweep is a check, not just a table).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import onnxlayer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows, bad = [], 0
    for path in sorted(args.root.rglob("*.onnx")):
        t = time.perf_counter()
        try:
            s = onnxlayer.analyze(path).summary
            row = {"model": str(path.relative_to(args.root)), "seconds": round(time.perf_counter() - t, 2),
                   "complexity_bits": s.complexity_bits, "intrinsic_power": s.intrinsic_power,
                   "intrinsic_power_mean": s.intrinsic_power_mean, "depth": s.depth, "params": s.params,
                   "opaque_leaves": s.opaque_leaves}
            bad += s.opaque_leaves > 0
            print(f"{row['model']:<48} {row['seconds']:>6.2f}s  C={s.complexity_bits:>16,.3f}  P={s.intrinsic_power:8.4f}"
                  f"  L={s.depth:>4}  W={s.params:>12,}  opaque={s.opaque_leaves}")
        except onnxlayer.OnnxLayerError as exc:
            bad += 1
            row = {"model": str(path.relative_to(args.root)), "error": str(exc)}
            print(f"{row['model']:<48} error: {exc}")
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
