"""U-Net (Ronneberger et al. 2015) as in milesial/Pytorch-UNet: padded 3x3 convs with
BatchNorm, ConvTranspose up-sampling (bilinear=False), n_channels=3, n_classes=2."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

N_CHANNELS, N_CLASSES, SIZE = 3, 2, 256


def _double_conv(b: GraphBuilder, x: str, c_in: int, c_out: int) -> str:
    with b.scope("double_conv"):
        x = b.conv(x, c_in, c_out, 3, 1, 1, bias=False, name=0)
        x = b.relu(b.batchnorm(x, c_out, name=1), 2)
        x = b.conv(x, c_out, c_out, 3, 1, 1, bias=False, name=3)
        return b.relu(b.batchnorm(x, c_out, name=4), 5)


def unet(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("unet", weights, seed)
    x = b.input("input", ["batch", N_CHANNELS, SIZE, SIZE])
    with b.scope("inc"):
        x = _double_conv(b, x, N_CHANNELS, 64)
    skips, channels = [x], 64
    for i in range(1, 5):
        with b.scope(f"down{i}"), b.scope("maxpool_conv"):
            x = b.maxpool(x, 2, 2, name=0)
            with b.scope(1):
                x = _double_conv(b, x, channels, 2 * channels)
        channels *= 2
        skips.append(x)
    skips.pop()
    for i in range(1, 5):
        with b.scope(f"up{i}"):
            x = b.conv_transpose(x, channels, channels // 2, 2, 2, name="up")
            # The input size is a multiple of 16, so Up's F.pad is a no-op and left out.
            x = b.concat([skips.pop(), x])
            with b.scope("conv"):
                x = _double_conv(b, x, channels, channels // 2)
        channels //= 2
    with b.scope("outc"):
        x = b.conv(x, channels, N_CLASSES, 1, name="conv")
    b.output(x, "logits", ["batch", N_CLASSES, SIZE, SIZE])
    return b.build("U-Net (milesial/Pytorch-UNet, bilinear=False)")
