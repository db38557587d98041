"""Time the fusion of a chain whose constant differs per element: Exp(x) − x·c over 1×N (issue 9).

Every column of c gives a column of the fitted map; columns that differ by a linear function of
x have the same segmentation, so fusion segments one of them (4096 columns took 183 s when each
was segmented). Prints the seconds per N with the disk cache of fits off; no assertion is made
(the machine is shared and noisy): tests/test_issue9_fusion.py counts the segmentations instead.

    python benchmarks/bench_columns.py [--widths 256 1024 4096] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper


def exp_minus_scaled(width: int, seed: int) -> onnx.ModelProto:
    """Exp(x) − x·c, c drawn per element."""
    c = np.random.default_rng(seed).standard_normal((1, width)).astype(np.float32)
    nodes = [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Mul", ["x", "c"], ["xc"]),
             helper.make_node("Sub", ["e", "xc"], ["y"])]
    graph = helper.make_graph(nodes, "exp_minus_scaled", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, width])],
                              [numpy_helper.from_array(c, "c")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ["ONNXLAYER_NO_CACHE"] = "1"  # a remembered count would time nothing
    import onnxlayer

    print(f"{'columns':>8}{'seconds':>10}")
    for width in args.widths:
        best = float("inf")
        for k in range(args.repeat):  # a new c each time: the in-process memo of fits never answers
            model = exp_minus_scaled(width, seed=1000 * width + k)
            t = time.perf_counter()
            onnxlayer.analyze(model)
            best = min(best, time.perf_counter() - t)
        print(f"{width:>8}{best:>10.3f}")


if __name__ == "__main__":
    main()
