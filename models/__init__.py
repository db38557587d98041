"""Architecture zoo built in pure ONNX (installed as onnxlayer.models).

Every builder uses only ``onnx`` and ``numpy`` and mirrors the op structure that
the reference implementation's ONNX export has (real BatchNormalization nodes,
Gemm heads, torch-style scope names). ``build(name, weights=False)`` gives a
graph-only model whose initializers carry dims but no data (see builder.py).

Parameter counts follow SPEC §3 ``W``: all float initializer elements except
BatchNormalization running mean/var, so they equal the trainable-parameter
counts that frameworks publish.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import onnx

from . import (classic, convnext, densenet, efficientnet, inception, mobilenet, regnet, resnet,
               shufflenet, squeezenet, transformer, unet, vgg)

__all__ = ["ZooEntry", "names", "build", "describe", "default_input_shapes"]


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its builder and a line of provenance for ``describe``."""
    name: str
    builder: Callable[[bool, int], onnx.ModelProto]
    architecture: str
    input_shape: str
    reference: str
    published_params: int
    #: concrete shapes for inputs with symbolic dims other than the batch (the model's defaults)
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


# Family builders take the model name first; the others take only (weights, seed).
_BY_NAME = {resnet.resnet, vgg.vgg, densenet.densenet, squeezenet.squeezenet,
            mobilenet.mobilenet_v3, efficientnet.efficientnet, regnet.regnet}


def _tv(name: str, builder: Callable[..., onnx.ModelProto], architecture: str,
        params: int, size: int = 224, note: str = "") -> ZooEntry:
    """A torchvision model; ``params`` is the num_params of its weights docs."""
    return ZooEntry(name, partial(builder, name) if builder in _BY_NAME else builder,
                    architecture, f"[batch, 3, {size}, {size}]",
                    f"torchvision {name} weights docs{note}", params)


_ENTRIES: list[ZooEntry] = [
    ZooEntry("mlp", classic.mlp, "MLP 784-256-256-10 with ReLU", "[batch, 784]",
             "onnxlayer's own reference (no external source)", 269_322),
    ZooEntry("lenet5", classic.lenet5, "LeNet-5 (LeCun et al. 1998), modern variant",
             "[batch, 1, 32, 32]", "LeCun et al. 1998, full C3, linear output", 61_706),
    _tv("resnet18", resnet.resnet, "ResNet-18 (He et al. 2016)", 11_689_512),
    _tv("resnet34", resnet.resnet, "ResNet-34 (He et al. 2016)", 21_797_672),
    _tv("resnet50", resnet.resnet, "ResNet-50 (He et al. 2016, V1.5)", 25_557_032),
    _tv("resnet101", resnet.resnet, "ResNet-101 (He et al. 2016, V1.5)", 44_549_160),
    _tv("resnet152", resnet.resnet, "ResNet-152 (He et al. 2016, V1.5)", 60_192_808),
    _tv("wide_resnet50_2", resnet.resnet, "Wide ResNet-50-2 (Zagoruyko & Komodakis 2016)",
        68_883_240),
    _tv("resnext50_32x4d", resnet.resnet, "ResNeXt-50 32x4d (Xie et al. 2017)", 25_028_904),
    _tv("alexnet", vgg.alexnet, "AlexNet (Krizhevsky 2014, one-weird-trick variant)",
        61_100_840),
    _tv("vgg11", vgg.vgg, "VGG-11 (Simonyan & Zisserman 2015)", 132_863_336),
    _tv("vgg11_bn", vgg.vgg, "VGG-11 with BatchNorm", 132_868_840),
    _tv("vgg13", vgg.vgg, "VGG-13 (Simonyan & Zisserman 2015)", 133_047_848),
    _tv("vgg13_bn", vgg.vgg, "VGG-13 with BatchNorm", 133_053_736),
    _tv("vgg16", vgg.vgg, "VGG-16 (Simonyan & Zisserman 2015)", 138_357_544),
    _tv("vgg16_bn", vgg.vgg, "VGG-16 with BatchNorm", 138_365_992),
    _tv("vgg19", vgg.vgg, "VGG-19 (Simonyan & Zisserman 2015)", 143_667_240),
    _tv("vgg19_bn", vgg.vgg, "VGG-19 with BatchNorm", 143_678_248),
    _tv("densenet121", densenet.densenet, "DenseNet-121 (Huang et al. 2017)", 7_978_856),
    _tv("densenet161", densenet.densenet, "DenseNet-161 (Huang et al. 2017)", 28_681_000),
    _tv("densenet169", densenet.densenet, "DenseNet-169 (Huang et al. 2017)", 14_149_480),
    _tv("densenet201", densenet.densenet, "DenseNet-201 (Huang et al. 2017)", 20_013_928),
    _tv("squeezenet1_0", squeezenet.squeezenet, "SqueezeNet 1.0 (Iandola et al. 2016)",
        1_248_424),
    _tv("squeezenet1_1", squeezenet.squeezenet, "SqueezeNet 1.1 (Iandola et al. 2016)",
        1_235_496),
    _tv("googlenet", inception.googlenet,
        "GoogLeNet (Szegedy et al. 2015), inference path without aux classifiers",
        6_624_904, note=" (count without aux classifiers, as loaded)"),
    _tv("inception_v3", inception.inception_v3,
        "Inception-v3 (Szegedy et al. 2016), inference path without AuxLogits", 27_161_264,
        size=299, note=" (count includes AuxLogits, 3,326,696 params not in this graph)"),
    ZooEntry("mobilenet_v1", mobilenet.mobilenet_v1,
             "MobileNet v1 1.0x (Howard et al. 2017), BN + ReLU6", "[batch, 3, 224, 224]",
             "Howard et al. 2017 Table 1 (4.2M); = keras.applications.MobileNet trainable",
             4_231_976),
    _tv("mobilenet_v2", mobilenet.mobilenet_v2, "MobileNet v2 (Sandler et al. 2018)",
        3_504_872),
    _tv("mobilenet_v3_small", mobilenet.mobilenet_v3, "MobileNet v3 Small (Howard et al. 2019)",
        2_542_856),
    _tv("mobilenet_v3_large", mobilenet.mobilenet_v3, "MobileNet v3 Large (Howard et al. 2019)",
        5_483_032),
    _tv("shufflenet_v2_x1_0", shufflenet.shufflenet_v2_x1_0,
        "ShuffleNet V2 1.0x (Ma et al. 2018)", 2_278_604),
    _tv("efficientnet_b0", efficientnet.efficientnet, "EfficientNet-B0 (Tan & Le 2019)",
        5_288_548),
    _tv("efficientnet_b1", efficientnet.efficientnet, "EfficientNet-B1 (Tan & Le 2019)",
        7_794_184, size=240),
    _tv("efficientnet_b2", efficientnet.efficientnet, "EfficientNet-B2 (Tan & Le 2019)",
        9_109_994, size=260),
    _tv("efficientnet_b3", efficientnet.efficientnet, "EfficientNet-B3 (Tan & Le 2019)",
        12_233_232, size=300),
    _tv("regnet_y_400mf", regnet.regnet, "RegNetY-400MF (Radosavovic et al. 2020)",
        4_344_144),
    _tv("regnet_y_800mf", regnet.regnet, "RegNetY-800MF (Radosavovic et al. 2020)",
        6_432_512),
    _tv("convnext_tiny", convnext.convnext_tiny, "ConvNeXt-Tiny (Liu et al. 2022)",
        28_589_128),
    _tv("vit_b_16", transformer.vit_b_16,
        "ViT-B/16 (Dosovitskiy et al. 2021), 12 layers, 12 heads", 86_567_656),
    ZooEntry("bert_base", transformer.bert_base,
             "BERT-base encoder + pooler (Devlin et al. 2019), 12 layers, no attention mask",
             "input_ids, token_type_ids [batch, seq] int64",
             "HuggingFace bert-base-uncased BertModel", 109_482_240,
             {"input_ids": (1, 128), "token_type_ids": (1, 128)}),
    ZooEntry("unet", unet.unet, "U-Net (Ronneberger et al. 2015), padded convs + BN, "
             "ConvTranspose up-sampling", "[batch, 3, 256, 256]",
             "milesial/Pytorch-UNet n_channels=3, n_classes=2, bilinear=False "
             "(bias-free convs before BN, as in its later revisions)", 31_037_698),
]
_REGISTRY: dict[str, ZooEntry] = {entry.name: entry for entry in _ENTRIES}


def names() -> list[str]:
    """All zoo model names, in registry order."""
    return list(_REGISTRY)


def _entry(name: str) -> ZooEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; available: {', '.join(_REGISTRY)}") from None


def build(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """Build zoo model ``name``; ``weights=False`` gives a fast graph-only model."""
    return _entry(name).builder(weights, seed)


def default_input_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Shapes to analyse ``name`` with when its inputs have symbolic non-batch dims (BERT: seq 128)."""
    return dict(_entry(name).input_shapes)


def describe(name: str) -> str:
    """One line: architecture, input shape, reference and published parameter count."""
    e = _entry(name)
    return (f"{e.name}: {e.architecture}; input {e.input_shape}; "
            f"reference {e.reference}; {e.published_params:,} params")
