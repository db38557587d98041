"""The README table "Optimized and quantized models": every deployed form of the test models.

    python benchmarks/deployed_table.py [--cache DIR]

Builds (or reuses, with --cache) the files of `tests/deployed.py` — a BERT-like encoder, a
GPT-2-like decoder and a ResNet-like CNN, each as exported by torch.onnx and after onnxruntime's
optimizers and quantizers — analyses each, and prints one markdown table to stdout: variant ×
C, P, P̄, D0, W, MACs, opaque leaves and `onnxlayer diff`'s verdict against the export (or the
error that refused the file).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import deployed  # noqa: E402  (tests/deployed.py)

import onnxlayer  # noqa: E402
from onnxlayer.diff import diff  # noqa: E402

MODEL_NAMES = {"bert": "BERT-like encoder", "gpt2": "GPT-2-like decoder", "cnn": "ResNet-like CNN"}
HEADER = ("| model | form | C (bits) | P | P̄ | D0 | W | MACs | opaque leaves | `onnxlayer diff` with (a) |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")


def row(model: str, variant: deployed.Variant, cache: Path, refusals: list[str],
        export: onnxlayer.AnalysisResult | None) -> tuple[str, onnxlayer.AnalysisResult | None]:
    """One table row and its analysis; a refused file gets a numbered note with its error under the table."""
    cells = [MODEL_NAMES[model], f"({variant.letter}) {variant.label}"]
    path = deployed.variant_path(model, variant.key, cache)
    try:
        result = onnxlayer.analyze(path, input_shapes=deployed.input_shapes(model))
    except onnxlayer.OnnxLayerError as exc:
        refusals.append(f"{len(refusals) + 1}. {type(exc).__name__}: {exc}")
        return "| " + " | ".join(cells + [f"refused ({len(refusals)})"] + [""] * 7) + " |", None
    s = result.summary
    verdict = "(the reference)" if export is None else _verdict(diff(export, result))
    cells += [f"{s.complexity_bits:,.1f}", _power(s.intrinsic_power), _power(s.intrinsic_power_mean),
              f"{s.input_dim:,}", f"{s.params:,}", f"{s.macs:,}", str(s.opaque_leaves), verdict]
    return "| " + " | ".join(cells) + " |", result


def _verdict(d) -> str:
    """The diff's verdict, with what changed and the op types of the leaves it removed."""
    if not d.architectural_change:
        return d.verdict
    removed = sorted({c.old.op_type for c in d.leaves if c.status == "removed"}
                     - {c.new.op_type for c in d.leaves if c.status == "added"})
    return f"{d.verdict}: {'; '.join(d.reasons)}" + (f" ({', '.join(removed)} removed)" if removed else "")


def _power(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def table(cache: Path) -> str:
    """The markdown table, then the errors of the refused files."""
    lines, refusals = list(HEADER), []
    for model in deployed.MODELS:
        export = None
        for v in deployed.VARIANTS:
            if deployed.applicable(model, v.key):
                line, result = row(model, v, cache, refusals, export)
                export = export or result
                lines.append(line)
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
