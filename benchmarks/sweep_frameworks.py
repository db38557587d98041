"""Convert and analyse every Keras application and torchvision classifier (issue 4's sweep).

Each model runs in its own subprocess (memory is returned between models, a failure stays
local): build with random weights (`weights=None`, nothing downloaded), convert in memory with
`onnxlayer.converters`, analyse. Prints seconds to convert and analyse, the child's peak RSS, C,
and the number of opaque leaves; exits 1 if any model fails or has opaque leaves. Needs the
`tensorflow` and `torch` extras (and torchvision, used here only as a source of architectures).

    python benchmarks/sweep_frameworks.py [--source keras|torch|all] [--models NAME ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

KERAS = """Xception VGG16 VGG19 ResNet50 ResNet101 ResNet152 ResNet50V2 ResNet101V2 ResNet152V2 InceptionV3
InceptionResNetV2 MobileNet MobileNetV2 MobileNetV3Small MobileNetV3Large DenseNet121 DenseNet169 DenseNet201
NASNetMobile NASNetLarge EfficientNetB0 EfficientNetB1 EfficientNetB2 EfficientNetB3 EfficientNetB4 EfficientNetB5
EfficientNetB6 EfficientNetB7 EfficientNetV2B0 EfficientNetV2B1 EfficientNetV2B2 EfficientNetV2B3 EfficientNetV2S
EfficientNetV2M EfficientNetV2L ConvNeXtTiny ConvNeXtSmall ConvNeXtBase ConvNeXtLarge ConvNeXtXLarge""".split()
TORCHVISION = """resnet18 resnet50 vgg16 alexnet densenet121 googlenet inception_v3 mobilenet_v2 mobilenet_v3_small
mobilenet_v3_large shufflenet_v2_x1_0 squeezenet1_0 efficientnet_b0 regnet_y_400mf convnext_tiny vit_b_16 swin_t
maxvit_t""".split()
#: Keras applications built with symbolic spatial dims need their input size.
KERAS_SHAPES = {"MobileNetV3Small": {"keras_tensor": (1, 224, 224, 3)}, "MobileNetV3Large": {"keras_tensor": (1, 224, 224, 3)}}

CHILD = r'''
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
source, name, exporter, shapes = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
import onnxlayer
from onnxlayer.converters import convert
if source == "keras":
    import keras
    model, example, options = getattr(keras.applications, name)(weights=None), None, {}
    shapes = {k: tuple(v) for k, v in shapes.items()} or None
else:
    import torch
    # torchvision's C extension is a CUDA build here: declare its op schemas before importing it
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision
    size = 299 if name == "inception_v3" else 224
    model = getattr(torchvision.models, name)(weights=None).eval()
    example, options, shapes = torch.randn(1, 3, size, size), {"exporter": exporter}, None
t0 = time.perf_counter()
proto = convert(model, example, **options)
t1 = time.perf_counter()
s = onnxlayer.analyze(proto, shapes).summary
t2 = time.perf_counter()
print(json.dumps({"convert_s": t1 - t0, "analyze_s": t2 - t1, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "complexity_bits": s.complexity_bits, "intrinsic_power": s.intrinsic_power, "opaque": s.opaque_leaves}))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=("keras", "torch", "all"), default="all")
    ap.add_argument("--models", nargs="*", help="a subset of the names above")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per model")
    args = ap.parse_args()
    jobs = []
    if args.source in ("keras", "all"):
        jobs += [("keras", m, "tf2onnx") for m in KERAS]
    if args.source in ("torch", "all"):
        jobs += [("torch", m, e) for m in TORCHVISION for e in ("dynamo", "legacy")]
    if args.models:
        jobs = [j for j in jobs if j[1] in args.models]
    bad = 0
    print(f"{'model':<28}{'exporter':<9}{'convert s':>10}{'analyse s':>10}{'peak MB':>9}{'C bits':>18}{'P':>9}  opaque")
    for source, name, exporter in jobs:
        shapes = json.dumps(KERAS_SHAPES.get(name, {}))
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, source, name, exporter, shapes], capture_output=True,
                                  text=True, timeout=args.timeout)
            row = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            proc, row = None, None
        if row is None:
            bad += 1
            why = (proc.stderr.strip().splitlines() or ["?"])[-1] if proc else "timed out"
            print(f"{name:<28}{exporter:<9} failed: {why[:160]}")
            continue
        bad += row["opaque"] > 0
        print(f"{name:<28}{exporter:<9}{row['convert_s']:>10.1f}{row['analyze_s']:>10.2f}{row['peak_mb']:>9.0f}"
              f"{row['complexity_bits']:>18,.1f}{row['intrinsic_power']:>9.4f}  {row['opaque']}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
