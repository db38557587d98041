"""torchvision RegNetY-400MF and RegNetY-800MF (Radosavovic et al. 2020)."""
from __future__ import annotations

import math

import numpy as np
import onnx

from .builder import GraphBuilder, make_divisible

# name: (depth, w_0, w_a, w_m, group width); all RegNetY use se_ratio 0.25,
# bottleneck multiplier 1.0 and a 32-channel stem.
CONFIGS: dict[str, tuple[int, int, float, float, int]] = {
    "regnet_y_400mf": (16, 48, 27.89, 2.09, 8),
    "regnet_y_800mf": (14, 56, 38.84, 2.4, 16),
}
SE_RATIO = 0.25
STEM_WIDTH = 32


def stage_params(depth: int, w_0: int, w_a: float, w_m: float,
                 group_width: int) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage, as torchvision's BlockParams computes them.

    torchvision does this arithmetic in float32 tensors; so do we, so that the
    rounding of the quantised widths is the same.
    """
    f32 = np.float32
    widths_cont = np.arange(depth, dtype=f32) * f32(w_a) + f32(w_0)
    capacity = np.round(np.log(widths_cont / f32(w_0)) / f32(math.log(w_m)))
    widths = (np.round(f32(w_0) * np.power(f32(w_m), capacity) / f32(8)) * 8).astype(int)
    stages: list[list[int]] = []  # [width, depth]
    for width in widths.tolist():
        if stages and stages[-1][0] == width:
            stages[-1][1] += 1
        else:
            stages.append([width, 1])
    result = []
    for width, n in stages:
        group = min(group_width, width)  # _adjust_widths_groups_compatibilty, multiplier 1
        result.append((make_divisible(width, group), n, group))
    return result


def _block(b: GraphBuilder, x: str, w_in: int, w_out: int, stride: int, group_width: int) -> str:
    """ResBottleneckBlock: proj shortcut if the shape changes, BottleneckTransform f."""
    shortcut = x
    if w_in != w_out or stride != 1:
        with b.scope("proj"):
            shortcut = b.conv_norm_act(x, w_in, w_out, 1, stride, act=None)
    with b.scope("f"):
        with b.scope("a"):
            y = b.conv_norm_act(x, w_in, w_out, 1)
        with b.scope("b"):
            y = b.conv_norm_act(y, w_out, w_out, 3, stride, groups=w_out // group_width)
        with b.scope("se"):
            y = b.squeeze_excitation(y, w_out, int(round(SE_RATIO * w_in)))
        with b.scope("c"):
            y = b.conv_norm_act(y, w_out, w_out, 1, act=None)
    return b.relu(b.add(shortcut, y), "activation")


def regnet(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("stem"):
        x = b.conv_norm_act(x, 3, STEM_WIDTH, 3, 2)
    width = STEM_WIDTH
    with b.scope("trunk_output"):
        for stage, (w_out, depth, group) in enumerate(stage_params(*CONFIGS[name]), start=1):
            with b.scope(f"block{stage}"):
                for i in range(depth):
                    with b.scope(f"block{stage}-{i}"):
                        x = _block(b, x, width, w_out, 2 if i == 0 else 1, group)
                    width = w_out
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    x = b.linear(x, width, 1000, name="fc")
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
