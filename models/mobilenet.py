"""MobileNet v1 (Howard et al. 2017) and torchvision MobileNet v2 / v3."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder, make_divisible


def _classifier_head(b: GraphBuilder, x: str) -> str:
    """adaptive_avg_pool2d to 1x1 then torch.flatten(x, 1), as the forward() calls do."""
    return b.flatten(b.global_avgpool(x))


# ------------------------------------------------------------------------ v1
# (stride of the depthwise conv, output channels of the pointwise conv), Table 1 of the
# paper; its last depthwise conv is listed with stride 2 but keeps 7x7, i.e. stride 1.
_V1_LAYERS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
              (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


def mobilenet_v1(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """1.0x, 224: BN after every conv, ReLU6 (Clip 0..6), depthwise as group conv."""
    b = GraphBuilder("mobilenet_v1", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    c_in = 32
    with b.scope("features"):
        with b.scope(0):
            x = b.conv_norm_act(x, 3, c_in, 3, 2, act="Relu6")
        for i, (stride, c_out) in enumerate(_V1_LAYERS, start=1):
            with b.scope(i):
                with b.scope("depthwise"):
                    x = b.conv_norm_act(x, c_in, c_in, 3, stride, groups=c_in, act="Relu6")
                with b.scope("pointwise"):
                    x = b.conv_norm_act(x, c_in, c_out, 1, act="Relu6")
            c_in = c_out
    x = b.linear(_classifier_head(b, x), 1024, 1000, name="classifier")
    b.output(x, "logits", ["batch", 1000])
    return b.build("MobileNet v1 1.0x-224 (Howard et al. 2017)")


# ------------------------------------------------------------------------ v2
# (expansion t, channels c, repeats n, first stride s), torchvision / Sandler et al. 2018.
_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _v2_block(b: GraphBuilder, x: str, c_in: int, c_out: int, stride: int,
              expand: int) -> str:
    hidden = int(round(c_in * expand))
    with b.scope("conv"):
        index, y = 0, x
        if expand != 1:
            with b.scope(index):
                y = b.conv_norm_act(y, c_in, hidden, 1, act="Relu6")
            index += 1
        with b.scope(index):
            y = b.conv_norm_act(y, hidden, hidden, 3, stride, groups=hidden, act="Relu6")
        y = b.conv(y, hidden, c_out, 1, bias=False, name=index + 1)
        y = b.batchnorm(y, c_out, name=index + 2)
    return b.add(x, y) if stride == 1 and c_in == c_out else y


def mobilenet_v2(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("mobilenet_v2", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    c_in, index = 32, 1
    with b.scope("features"):
        with b.scope(0):
            x = b.conv_norm_act(x, 3, c_in, 3, 2, act="Relu6")
        for expand, channels, repeats, first_stride in _V2_SETTINGS:
            for i in range(repeats):
                with b.scope(index):
                    x = _v2_block(b, x, c_in, channels, first_stride if i == 0 else 1, expand)
                c_in, index = channels, index + 1
        with b.scope(index):
            x = b.conv_norm_act(x, c_in, 1280, 1, act="Relu6")
    with b.scope("classifier"):  # Dropout (0) is absent at inference
        x = b.linear(_classifier_head(b, x), 1280, 1000, name=1)
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision mobilenet_v2")


# ------------------------------------------------------------------------ v3
# (in, kernel, expanded, out, use_se, activation, stride), torchvision _mobilenet_v3_conf.
_V3_LARGE = [(16, 3, 16, 16, False, "Relu", 1), (16, 3, 64, 24, False, "Relu", 2),
             (24, 3, 72, 24, False, "Relu", 1), (24, 5, 72, 40, True, "Relu", 2),
             (40, 5, 120, 40, True, "Relu", 1), (40, 5, 120, 40, True, "Relu", 1),
             (40, 3, 240, 80, False, "HardSwish", 2), (80, 3, 200, 80, False, "HardSwish", 1),
             (80, 3, 184, 80, False, "HardSwish", 1), (80, 3, 184, 80, False, "HardSwish", 1),
             (80, 3, 480, 112, True, "HardSwish", 1), (112, 3, 672, 112, True, "HardSwish", 1),
             (112, 5, 672, 160, True, "HardSwish", 2), (160, 5, 960, 160, True, "HardSwish", 1),
             (160, 5, 960, 160, True, "HardSwish", 1)]
_V3_SMALL = [(16, 3, 16, 16, True, "Relu", 2), (16, 3, 72, 24, False, "Relu", 2),
             (24, 3, 88, 24, False, "Relu", 1), (24, 5, 96, 40, True, "HardSwish", 2),
             (40, 5, 240, 40, True, "HardSwish", 1), (40, 5, 240, 40, True, "HardSwish", 1),
             (40, 5, 120, 48, True, "HardSwish", 1), (48, 5, 144, 48, True, "HardSwish", 1),
             (48, 5, 288, 96, True, "HardSwish", 2), (96, 5, 576, 96, True, "HardSwish", 1),
             (96, 5, 576, 96, True, "HardSwish", 1)]
_V3_BN_EPS = 0.001


def _v3_block(b: GraphBuilder, x: str, c_in: int, kernel: int, expanded: int, c_out: int,
              use_se: bool, act: str, stride: int) -> str:
    with b.scope("block"):
        index, y = 0, x
        if expanded != c_in:
            with b.scope(index):
                y = b.conv_norm_act(y, c_in, expanded, 1, act=act, eps=_V3_BN_EPS)
            index += 1
        with b.scope(index):
            y = b.conv_norm_act(y, expanded, expanded, kernel, stride, groups=expanded,
                                act=act, eps=_V3_BN_EPS)
        index += 1
        if use_se:
            with b.scope(index):
                y = b.squeeze_excitation(y, expanded, make_divisible(expanded // 4, 8),
                                         scale_act="HardSigmoid")
            index += 1
        with b.scope(index):
            y = b.conv_norm_act(y, expanded, c_out, 1, act=None, eps=_V3_BN_EPS)
    return b.add(y, x) if stride == 1 and c_in == c_out else y


def mobilenet_v3(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    settings, last_channel = (_V3_LARGE, 1280) if name.endswith("large") else (_V3_SMALL, 1024)
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("features"):
        with b.scope(0):
            x = b.conv_norm_act(x, 3, 16, 3, 2, act="HardSwish", eps=_V3_BN_EPS)
        for index, setting in enumerate(settings, start=1):
            with b.scope(index):
                x = _v3_block(b, x, *setting)
        last_in = settings[-1][3]
        with b.scope(len(settings) + 1):
            x = b.conv_norm_act(x, last_in, 6 * last_in, 1, act="HardSwish", eps=_V3_BN_EPS)
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    with b.scope("classifier"):  # Dropout (2) is absent at inference
        x = b.hardswish(b.linear(x, 6 * last_in, last_channel, name=0), 1)
        x = b.linear(x, last_channel, 1000, name=3)
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
