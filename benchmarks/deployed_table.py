"""The README table "Optimized and quantized models": every deployed form of the test models.

    python benchmarks/deployed_table.py [--cache DIR]

Builds (or reuses, with --cache) the files of `tests/deployed.py` — a BERT-like encoder, a
GPT-2-like decoder and a ResNet-like CNN, each as exported by torch.onnx and after onnxruntime's
optimizers and quantizers — analyses each, and prints one markdown table to stdout: variant ×
C, P, P̄, D0, W, MACs, opaque leaves, or the error that refused the file.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import deployed  # noqa: E402  (tests/deployed.py)

import onnxlayer  # noqa: E402

MODEL_NAMES = {"bert": "BERT-like encoder", "gpt2": "GPT-2-like decoder", "cnn": "ResNet-like CNN"}
HEADER = ("| model | form | C (bits) | P | P̄ | D0 | W | MACs | opaque leaves |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|")


def row(model: str, variant: deployed.Variant, cache: Path, refusals: list[str]) -> str:
    """One table row; a refused file gets a numbered note with its error under the table."""
    cells = [MODEL_NAMES[model], f"({variant.letter}) {variant.label}"]
    path = deployed.variant_path(model, variant.key, cache)
    try:
        s = onnxlayer.analyze(path, input_shapes=deployed.input_shapes(model)).summary
    except onnxlayer.OnnxLayerError as exc:
        refusals.append(f"{len(refusals) + 1}. {type(exc).__name__}: {exc}")
        cells += [f"refused ({len(refusals)})"] + [""] * 6
    else:
        cells += [f"{s.complexity_bits:,.1f}", _power(s.intrinsic_power), _power(s.intrinsic_power_mean),
                  f"{s.input_dim:,}", f"{s.params:,}", f"{s.macs:,}", str(s.opaque_leaves)]
    return "| " + " | ".join(cells) + " |"


def _power(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def table(cache: Path) -> str:
    """The markdown table, then the errors of the refused files."""
    lines, refusals = list(HEADER), []
    for model in deployed.MODELS:
        lines += [row(model, v, cache, refusals) for v in deployed.VARIANTS if deployed.applicable(model, v.key)]
    if refusals:
        lines += ["", "Refused files:", "", *refusals]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="directory for the generated models (default: a temporary one)")
    args = ap.parse_args()
    if args.cache:
        print(table(args.cache))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(table(Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
