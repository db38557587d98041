"""torchvision GoogLeNet (Szegedy et al. 2015) and Inception-v3 (Szegedy et al. 2016).

Inference path only: the auxiliary classifiers run only in training mode, so they
are not in the graph (torch.onnx drops them too). torchvision's published
inception_v3 count includes AuxLogits (3,326,696 parameters); googlenet's does not.
The input normalisation of ``transform_input=True`` (parameter-free) is left out.
"""
from __future__ import annotations

import onnx

from .builder import GraphBuilder, IntOrPair

BN_EPS = 0.001


def _basic_conv(b: GraphBuilder, x: str, c_in: int, c_out: int, kernel: IntOrPair,
                stride: int = 1, padding: IntOrPair = 0, name: str | None = None) -> str:
    """BasicConv2d: conv (no bias), BN (eps 1e-3), functional ReLU."""
    with b.maybe_scope(name):
        x = b.conv(x, c_in, c_out, kernel, stride, padding, bias=False, name="conv")
        return b.relu(b.batchnorm(x, c_out, BN_EPS, name="bn"))


# ----------------------------------------------------------------- GoogLeNet
# (in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
_GOOGLENET_BLOCKS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def _googlenet_inception(b: GraphBuilder, x: str, c_in: int, ch1x1: int, ch3x3red: int,
                         ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int) -> str:
    branch1 = _basic_conv(b, x, c_in, ch1x1, 1, name="branch1")
    with b.scope("branch2"):
        branch2 = _basic_conv(b, x, c_in, ch3x3red, 1, name=0)
        branch2 = _basic_conv(b, branch2, ch3x3red, ch3x3, 3, 1, 1, name=1)
    with b.scope("branch3"):
        # torchvision uses a 3x3 conv here (a known deviation from the paper's 5x5).
        branch3 = _basic_conv(b, x, c_in, ch5x5red, 1, name=0)
        branch3 = _basic_conv(b, branch3, ch5x5red, ch5x5, 3, 1, 1, name=1)
    with b.scope("branch4"):
        branch4 = b.maxpool(x, 3, 1, 1, ceil_mode=True, name=0)
        branch4 = _basic_conv(b, branch4, c_in, pool_proj, 1, name=1)
    return b.concat([branch1, branch2, branch3, branch4])


def googlenet(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("googlenet", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    x = _basic_conv(b, x, 3, 64, 7, 2, 3, name="conv1")
    x = b.maxpool(x, 3, 2, ceil_mode=True, name="maxpool1")
    x = _basic_conv(b, x, 64, 64, 1, name="conv2")
    x = _basic_conv(b, x, 64, 192, 3, 1, 1, name="conv3")
    x = b.maxpool(x, 3, 2, ceil_mode=True, name="maxpool2")
    for block, config in _GOOGLENET_BLOCKS.items():
        with b.scope(block):
            x = _googlenet_inception(b, x, *config)
        if block == "inception3b":
            x = b.maxpool(x, 3, 2, ceil_mode=True, name="maxpool3")
        elif block == "inception4e":
            x = b.maxpool(x, 2, 2, ceil_mode=True, name="maxpool4")
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    x = b.linear(x, 1024, 1000, name="fc")  # after Dropout, absent at inference
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision googlenet (inference path, no aux classifiers)")


# -------------------------------------------------------------- Inception-v3
def _pool_branch(b: GraphBuilder, x: str, c_in: int, c_out: int) -> str:
    pooled = b.avgpool(x, 3, 1, 1)  # F.avg_pool2d(x, 3, stride=1, padding=1)
    return _basic_conv(b, pooled, c_in, c_out, 1, name="branch_pool")


def _inception_a(b: GraphBuilder, x: str, c_in: int, pool_features: int) -> str:
    b1 = _basic_conv(b, x, c_in, 64, 1, name="branch1x1")
    b5 = _basic_conv(b, x, c_in, 48, 1, name="branch5x5_1")
    b5 = _basic_conv(b, b5, 48, 64, 5, 1, 2, name="branch5x5_2")
    b3 = _basic_conv(b, x, c_in, 64, 1, name="branch3x3dbl_1")
    b3 = _basic_conv(b, b3, 64, 96, 3, 1, 1, name="branch3x3dbl_2")
    b3 = _basic_conv(b, b3, 96, 96, 3, 1, 1, name="branch3x3dbl_3")
    return b.concat([b1, b5, b3, _pool_branch(b, x, c_in, pool_features)])


def _inception_b(b: GraphBuilder, x: str, c_in: int) -> str:
    b3 = _basic_conv(b, x, c_in, 384, 3, 2, name="branch3x3")
    bd = _basic_conv(b, x, c_in, 64, 1, name="branch3x3dbl_1")
    bd = _basic_conv(b, bd, 64, 96, 3, 1, 1, name="branch3x3dbl_2")
    bd = _basic_conv(b, bd, 96, 96, 3, 2, name="branch3x3dbl_3")
    return b.concat([b3, bd, b.maxpool(x, 3, 2)])


def _inception_c(b: GraphBuilder, x: str, c_in: int, c7: int) -> str:
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding)
    b1 = _basic_conv(b, x, c_in, 192, 1, name="branch1x1")
    b7 = _basic_conv(b, x, c_in, c7, 1, name="branch7x7_1")
    b7 = _basic_conv(b, b7, c7, c7, row[0], 1, row[1], name="branch7x7_2")
    b7 = _basic_conv(b, b7, c7, 192, col[0], 1, col[1], name="branch7x7_3")
    bd = _basic_conv(b, x, c_in, c7, 1, name="branch7x7dbl_1")
    for i, (kernel, padding) in enumerate((col, row, col), start=2):
        bd = _basic_conv(b, bd, c7, c7, kernel, 1, padding, name=f"branch7x7dbl_{i}")
    bd = _basic_conv(b, bd, c7, 192, row[0], 1, row[1], name="branch7x7dbl_5")
    return b.concat([b1, b7, bd, _pool_branch(b, x, c_in, 192)])


def _inception_d(b: GraphBuilder, x: str, c_in: int) -> str:
    b3 = _basic_conv(b, x, c_in, 192, 1, name="branch3x3_1")
    b3 = _basic_conv(b, b3, 192, 320, 3, 2, name="branch3x3_2")
    b7 = _basic_conv(b, x, c_in, 192, 1, name="branch7x7x3_1")
    b7 = _basic_conv(b, b7, 192, 192, (1, 7), 1, (0, 3), name="branch7x7x3_2")
    b7 = _basic_conv(b, b7, 192, 192, (7, 1), 1, (3, 0), name="branch7x7x3_3")
    b7 = _basic_conv(b, b7, 192, 192, 3, 2, name="branch7x7x3_4")
    return b.concat([b3, b7, b.maxpool(x, 3, 2)])


def _inception_e(b: GraphBuilder, x: str, c_in: int) -> str:
    b1 = _basic_conv(b, x, c_in, 320, 1, name="branch1x1")
    b3 = _basic_conv(b, x, c_in, 384, 1, name="branch3x3_1")
    b3 = b.concat([_basic_conv(b, b3, 384, 384, (1, 3), 1, (0, 1), name="branch3x3_2a"),
                   _basic_conv(b, b3, 384, 384, (3, 1), 1, (1, 0), name="branch3x3_2b")])
    bd = _basic_conv(b, x, c_in, 448, 1, name="branch3x3dbl_1")
    bd = _basic_conv(b, bd, 448, 384, 3, 1, 1, name="branch3x3dbl_2")
    bd = b.concat([_basic_conv(b, bd, 384, 384, (1, 3), 1, (0, 1), name="branch3x3dbl_3a"),
                   _basic_conv(b, bd, 384, 384, (3, 1), 1, (1, 0), name="branch3x3dbl_3b")])
    return b.concat([b1, b3, bd, _pool_branch(b, x, c_in, 192)])


def inception_v3(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("inception_v3", weights, seed)
    x = b.input("input", ["batch", 3, 299, 299])
    x = _basic_conv(b, x, 3, 32, 3, 2, name="Conv2d_1a_3x3")
    x = _basic_conv(b, x, 32, 32, 3, name="Conv2d_2a_3x3")
    x = _basic_conv(b, x, 32, 64, 3, 1, 1, name="Conv2d_2b_3x3")
    x = b.maxpool(x, 3, 2, name="maxpool1")
    x = _basic_conv(b, x, 64, 80, 1, name="Conv2d_3b_1x1")
    x = _basic_conv(b, x, 80, 192, 3, name="Conv2d_4a_3x3")
    x = b.maxpool(x, 3, 2, name="maxpool2")
    blocks = [("Mixed_5b", _inception_a, (192, 32)), ("Mixed_5c", _inception_a, (256, 64)),
              ("Mixed_5d", _inception_a, (288, 64)), ("Mixed_6a", _inception_b, (288,)),
              ("Mixed_6b", _inception_c, (768, 128)), ("Mixed_6c", _inception_c, (768, 160)),
              ("Mixed_6d", _inception_c, (768, 160)), ("Mixed_6e", _inception_c, (768, 192)),
              ("Mixed_7a", _inception_d, (768,)), ("Mixed_7b", _inception_e, (1280,)),
              ("Mixed_7c", _inception_e, (2048,))]
    for block, make, args in blocks:
        with b.scope(block):
            x = make(b, x, *args)
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    x = b.linear(x, 2048, 1000, name="fc")  # after Dropout, absent at inference
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision inception_v3 (inference path, no AuxLogits)")
