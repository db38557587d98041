"""Export modern timm and transformers architectures with both torch exporters and analyse each (issue 9).

Each (model, exporter) runs in its own subprocess with a time limit: build with random weights
(timm ``pretrained=False``; transformers from a local config, nothing downloaded), add tiny noise
to every parameter (the legacy exporter stores equal tensors once, which would change W), convert
in memory with ``onnxlayer.converters`` (``exporter="legacy"`` or ``"dynamo"``), analyse. One JSON
line per export goes to the results file (appended, so the sweep can run in parts); ``--table``
rewrites the markdown summary from it: per-export numbers, legacy/dynamo twins compared field by
field, failures grouped by cause. Needs the ``torch`` extra, timm, transformers and torchvision.

    python benchmarks/sweep_modern.py [--only NAME ...] [--family F ...] [--source timm|transformers]
                                      [--exporters legacy dynamo] [--limit N] [--skip-done] [--timeout S]
                                      [--keep DIR] [--table] [--reanalyse]

``--keep DIR`` saves every export; ``--reanalyse`` later analyses those files again with the
current onnxlayer (minutes instead of hours), keeping the export fields of each row.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
#: Relative tolerance under which legacy and dynamo twins count as equal (issue 9 acceptance).
TWIN_RTOL = 1e-9
NOISE = 1e-3
EXPORTERS = ("legacy", "dynamo")

#: (family, timm name): small variants, the first of each family first so a partial run covers them all.
TIMM = [
    ("ViT", "vit_tiny_patch16_224"), ("DeiT", "deit_tiny_distilled_patch16_224"), ("Swin", "swin_tiny_patch4_window7_224"),
    ("SwinV2", "swinv2_tiny_window8_256"), ("ConvNeXt", "convnext_atto"), ("ConvNeXtV2", "convnextv2_atto"),
    ("EfficientFormer", "efficientformer_l1"), ("EfficientFormerV2", "efficientformerv2_s0"),
    ("MobileViT", "mobilevit_xxs"), ("MobileViTV2", "mobilevitv2_050"), ("LeViT", "levit_128s"),
    ("FastViT", "fastvit_t8"), ("MaxViT", "maxvit_nano_rw_256"), ("CoAtNet", "coatnet_nano_rw_224"),
    ("PoolFormer", "poolformer_s12"), ("PoolFormerV2", "poolformerv2_s12"), ("MLP-Mixer", "mixer_s16_224"),
    ("ResMLP", "resmlp_12_224"), ("gMLP", "gmlp_ti16_224"), ("XCiT", "xcit_nano_12_p16_224"), ("PVTv2", "pvt_v2_b0"),
    ("NFNet", "eca_nfnet_l0"), ("RegNet", "regnetx_002"), ("EfficientNet", "efficientnet_b0"),
    ("MobileNet", "mobilenetv3_small_100"), ("ResNet", "resnet18"), ("CoaT", "coat_lite_tiny"), ("ConViT", "convit_tiny"),
    ("CrossViT", "crossvit_tiny_240"), ("CaiT", "cait_xxs24_224"), ("BEiT", "beit_base_patch16_224"),
    ("EVA", "eva02_tiny_patch14_224"), ("TNT", "tnt_s_patch16_224"), ("Twins", "twins_svt_small"),
    ("EdgeNeXt", "edgenext_xx_small"), ("GhostNet", "ghostnet_100"), ("RepVGG", "repvgg_a0"), ("RepViT", "repvit_m0_9"),
    ("HRNet", "hrnet_w18_small"), ("InceptionNeXt", "inception_next_atto"), ("MambaOut", "mambaout_femto"),
    ("Hiera", "hiera_tiny_224"), ("DaViT", "davit_tiny"), ("FocalNet", "focalnet_tiny_srf"), ("GCViT", "gcvit_xxtiny"),
    ("NesT", "nest_tiny"), ("TinyViT", "tiny_vit_5m_224"), ("ViTamin", "vitamin_small_224"),
    ("Sequencer", "sequencer2d_s"), ("RDNet", "rdnet_tiny"), ("StarNet", "starnet_s1"), ("MobileOne", "mobileone_s0"),
    ("EfficientViT", "efficientvit_b0"), ("EfficientViT-M", "efficientvit_m0"), ("DLA", "dla34"), ("DPN", "dpn68"),
    ("DenseNet", "densenet121"), ("VOLO", "volo_d1_224"), ("Visformer", "visformer_tiny"), ("PiT", "pit_ti_224"),
    ("HGNet", "hgnetv2_b0"), ("Res2Net", "res2net50_14w_8s"), ("ResNeSt", "resnest14d"), ("ReXNet", "rexnet_100"),
    ("LCNet", "lcnet_050"), ("CSPNet", "cspresnet50"), ("ConvMixer", "convmixer_768_32"), ("Xception", "xception41"),
    ("Inception", "inception_v3"), ("VGG", "vgg11"),
    # second variants: other sizes and layouts of the same families
    ("ViT", "vit_small_patch16_224"), ("DeiT", "deit3_small_patch16_224"), ("SwinV2", "swinv2_cr_tiny_224"),
    ("ConvNeXt", "convnext_tiny"), ("MaxViT", "maxvit_tiny_tf_224"), ("CoAtNet", "coatnet_0_rw_224"),
    ("FastViT", "fastvit_sa12"), ("LeViT", "levit_conv_128s"), ("NFNet", "nf_regnet_b0"), ("RegNet", "regnety_002"),
    ("RegNet", "regnetz_005"), ("EfficientNet", "tf_efficientnet_b0"), ("EfficientNet", "tf_efficientnetv2_b0"),
    ("MobileNet", "mobilenetv4_conv_small"), ("ResNet", "resnet26d"), ("ResNet", "resnetv2_50x1_bit"),
    ("GhostNet", "ghostnetv2_100"), ("MobileViTV2", "mobilevitv2_100"), ("PVTv2", "pvt_v2_b1"),
]

#: name -> (family, config class, config kwargs, model class, inputs, call kwargs, output attribute)
#: Inputs, passed by keyword: ("ids", seq) input_ids, ("mask", seq) an all-ones attention_mask,
#: (keyword, shape...) a float tensor.
_SMALL_DECODER = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=1000, max_position_embeddings=256)
TRANSFORMERS: dict[str, tuple] = {
    "bert_base": ("BERT", "BertConfig", {}, "BertModel", [("ids", 128), ("mask", 128)], {}),
    "distilbert": ("DistilBERT", "DistilBertConfig", dict(dim=256, n_layers=2, n_heads=4, hidden_dim=1024, vocab_size=1000),
                   "DistilBertModel", [("ids", 64), ("mask", 64)], {}),
    "roberta": ("RoBERTa", "RobertaConfig", dict(hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                                                 intermediate_size=1024, vocab_size=1000, max_position_embeddings=130),
                "RobertaModel", [("ids", 64), ("mask", 64)], {}),
    "gpt2": ("GPT-2", "GPT2Config", {}, "GPT2LMHeadModel", [("ids", 64), ("mask", 64)], {"use_cache": False}),
    "llama": ("LLaMA", "LlamaConfig", _SMALL_DECODER, "LlamaForCausalLM", [("ids", 64), ("mask", 64)], {"use_cache": False}),
    "mistral": ("Mistral", "MistralConfig", {**_SMALL_DECODER, "sliding_window": 32}, "MistralForCausalLM",
                [("ids", 64), ("mask", 64)], {"use_cache": False}),
    "qwen2": ("Qwen2", "Qwen2Config", _SMALL_DECODER, "Qwen2ForCausalLM", [("ids", 64), ("mask", 64)], {"use_cache": False}),
    "t5_encoder": ("T5", "T5Config", dict(d_model=128, d_ff=512, d_kv=32, num_layers=2, num_heads=4, vocab_size=1000),
                   "T5EncoderModel", [("ids", 64), ("mask", 64)], {}),
    "vit": ("ViT (HF)", "ViTConfig", dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
                                          intermediate_size=768), "ViTModel", [("pixel_values", 3, 224, 224)], {}),
    "clip_vision": ("CLIP vision", "CLIPVisionConfig", dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
                                                            intermediate_size=768, patch_size=32),
                    "CLIPVisionModel", [("pixel_values", 3, 224, 224)], {}),
    "whisper_encoder": ("Whisper encoder", "WhisperConfig", dict(d_model=128, encoder_layers=2, encoder_attention_heads=4,
                                                                 encoder_ffn_dim=512, decoder_layers=1,
                                                                 decoder_attention_heads=4, decoder_ffn_dim=512),
                        "WhisperEncoder", [("input_features", 80, 3000)], {}),
    "wav2vec2": ("Wav2Vec2", "Wav2Vec2Config", dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                                    intermediate_size=512, vocab_size=32),
                 "Wav2Vec2Model", [("input_values", 16000)], {}),
}

#: Summary fields compared between twins (SPEC §3 globals) and their short labels.
FIELDS = {"complexity_bits": "C", "intrinsic_power": "P", "intrinsic_power_mean": "P̄", "input_dim": "D0",
          "params": "W", "macs": "MACs", "output_dim": "out", "depth": "L", "units": "U"}


def jobs() -> list[dict[str, str]]:
    """Every (model, exporter) this sweep knows, timm first."""
    models = [{"source": "timm", "family": f, "name": n} for f, n in TIMM]
    models += [{"source": "transformers", "family": spec[0], "name": n} for n, spec in TRANSFORMERS.items()]
    return [{**m, "exporter": e} for m in models for e in EXPORTERS]


# ---------------------------------------------------------------------------- child: one export


_TORCHVISION_OPS: list[Any] = []  # the library object must stay alive for its definitions to hold


def _declare_torchvision_ops() -> None:
    """torchvision's C extension is a CUDA build here: declare its op schemas before timm or
    transformers import torchvision (as benchmarks/sweep_frameworks.py does)."""
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TORCHVISION_OPS.append(lib)


def _build_timm(name: str) -> tuple[Any, tuple]:
    import timm
    import torch

    model = timm.create_model(name, pretrained=False)
    size = timm.data.resolve_data_config({}, model=model)["input_size"]
    return model, (torch.randn(1, *size),)


def _first_output(model: Any, names: list[str], call_kwargs: dict[str, Any]) -> Any:
    """Wrap a transformers model so the export sees positional tensors in (passed on by keyword:
    GPT-2's second positional argument is the cache, not the mask) and one tensor out."""
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(names, args)), return_dict=False, **call_kwargs)[0]

    return FirstOutput()


def _build_transformers(name: str) -> tuple[Any, tuple]:
    import torch
    import transformers

    _family, config_name, config_kwargs, model_name, inputs, call_kwargs = TRANSFORMERS[name]
    config = getattr(transformers, config_name)(**config_kwargs)
    if model_name == "WhisperEncoder":
        model = transformers.WhisperModel(config).get_encoder()
    else:
        model = getattr(transformers, model_name)(config)
    args, names = [], []
    for kind, *shape in inputs:
        if kind == "ids":
            args.append(torch.randint(0, config.vocab_size, (1, *shape)))
        elif kind == "mask":
            args.append(torch.ones(1, *shape, dtype=torch.int64))
        else:
            args.append(torch.randn(1, *shape))
        names.append({"ids": "input_ids", "mask": "attention_mask"}.get(kind, kind))
    return _first_output(model.eval(), names, call_kwargs), tuple(args)


def child(job: dict[str, str], keep: str | None) -> dict[str, Any]:
    """Build, perturb, export and analyse one model (or only analyse a kept export); the result row."""
    if job.get("saved"):
        import onnx

        return analyse(onnx.load(job["saved"], load_external_data=False))
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the machine is shared: one core per sweep
    _declare_torchvision_ops()
    row: dict[str, Any] = {}
    build = _build_timm if job["source"] == "timm" else _build_transformers
    model, example = build(job["name"])
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * NOISE)
    row["framework_params"] = sum(p.numel() for p in model.parameters())
    row["input_shapes"] = [list(t.shape) for t in example]

    from onnxlayer.converters import convert

    t0 = time.perf_counter()
    try:
        proto = convert(model, example, exporter=job["exporter"])
    except Exception as exc:  # noqa: BLE001 - the row records every export failure
        row.update(export="error", export_error=_one_line(exc), export_s=time.perf_counter() - t0)
        return row
    row.update(export="ok", export_s=time.perf_counter() - t0, nodes=len(proto.graph.node),
               opset=next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None))
    if keep:
        import onnx

        path = Path(keep) / f"{job['name']}.{job['exporter']}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(proto, str(path))
        row["saved"] = str(path)
    return {**row, **analyse(proto)}


#: Row fields an analysis writes (a re-analysis replaces exactly these).
ANALYSIS_FIELDS = ("analysis", "analysis_error", "analyze_s", "opaque_leaves", "opaque_ops", "leaves", "warnings",
                   "peak_mb", *FIELDS)


def analyse(proto: Any) -> dict[str, Any]:
    """Analyse an exported model: the row's ANALYSIS_FIELDS."""
    import resource

    import onnxlayer

    t1 = time.perf_counter()
    try:
        result = onnxlayer.analyze(proto)
    except onnxlayer.OnnxLayerError as exc:
        return {"analysis": "refused", "analysis_error": _one_line(exc), "analyze_s": time.perf_counter() - t1}
    except Exception as exc:  # noqa: BLE001 - an internal error is a finding, not a crash of the sweep
        return {"analysis": "internal", "analysis_error": _one_line(exc), "analyze_s": time.perf_counter() - t1}
    s = result.summary
    opaque: dict[str, int] = defaultdict(int)
    for leaf in result.leaves:
        if leaf.kind == "opaque":
            opaque[f"{leaf.domain}:{leaf.op_type}" if leaf.domain else leaf.op_type] += 1
    return {"analysis": "ok", "analyze_s": time.perf_counter() - t1, "opaque_leaves": s.opaque_leaves,
            "opaque_ops": dict(opaque), "leaves": s.leaves, "warnings": len(result.warnings),
            **{f: getattr(s, f, None) for f in FIELDS},
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _plain(text: str) -> str:
    """Text without terminal colour codes (torch's exporter messages carry them, some escaped)."""
    return re.sub(r"(\x1b|\\x1b)\[[0-9;]*m", "", text)


def _one_line(exc: BaseException) -> str:
    """The error's first line, and the first line of its root cause (exporters wrap the reason)."""
    def first(e: BaseException) -> str:
        lines = [line for line in _plain(str(e)).splitlines() if line.strip()]
        return f"{type(e).__name__}: {lines[0].strip() if lines else ''}"[:300]

    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return first(exc) + (f" <- {first(root)}" if root is not exc else "")


# ---------------------------------------------------------------------------- parent: the sweep


def run(job: dict[str, Any], timeout: float, keep: str | None) -> dict[str, Any]:
    """One export (or, for a row with a kept export, one re-analysis) in a subprocess; the row,
    whatever happens."""
    start = time.perf_counter()
    row: dict[str, Any] = {k: v for k, v in job.items() if not job.get("saved") or k not in ANALYSIS_FIELDS}
    failed = "analysis" if job.get("saved") else "export"
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job), *(["--keep", keep] if keep else [])],
                              capture_output=True, text=True, timeout=timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode == 0 and lines:
            row.update(json.loads(lines[-1]))
        else:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            row.update({failed: "error", f"{failed}_error": f"child exited {proc.returncode}: {tail[:400]}"})
    except subprocess.TimeoutExpired:
        row.update({failed: "timeout", f"{failed}_error": f"no result within {timeout:g} s"})
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["date"] = time.strftime("%Y-%m-%d %H:%M")
    return row


def latest(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The last row per (model, exporter) in a results file."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[(row["name"], row["exporter"])] = row
    return rows


def relative_difference(a: Any, b: Any) -> float:
    """|a − b| / max(|a|, |b|); 0 for equal values (None included), inf when only one is None."""
    if a == b:
        return 0.0
    if a is None or b is None:
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def twins(rows: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, dict[str, tuple[Any, Any, float]]]]:
    """Per model analysed by both exporters: the fields whose values differ beyond TWIN_RTOL."""
    out = []
    for name in sorted({n for n, _ in rows}):
        legacy, dynamo = rows.get((name, "legacy")), rows.get((name, "dynamo"))
        if not (legacy and dynamo and legacy.get("analysis") == dynamo.get("analysis") == "ok"):
            continue
        diffs = {f: (legacy.get(f), dynamo.get(f), relative_difference(legacy.get(f), dynamo.get(f))) for f in FIELDS}
        out.append((name, {f: d for f, d in diffs.items() if d[2] > TWIN_RTOL}))
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 1e15 else f"{value:.4e}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _status(row: dict[str, Any]) -> str:
    if row.get("export") != "ok":
        return f"export {row.get('export')}"
    if row.get("analysis") != "ok":
        return str(row.get("analysis"))
    return "ok" if not row.get("opaque_leaves") else f"opaque {row['opaque_leaves']}"


def table(rows: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The markdown summary: per-export rows, twin comparison, failures grouped by message."""
    order = {n: i for i, (_f, n) in enumerate(TIMM)} | {n: len(TIMM) + i for i, n in enumerate(TRANSFORMERS)}
    done = sorted(rows.values(), key=lambda r: (order.get(r["name"], 10**6), EXPORTERS.index(r["exporter"])))
    ok = [r for r in done if _status(r) == "ok"]
    lines = [
        "# Modern exports: timm and transformers, both torch exporters",
        "",
        "Made by `benchmarks/sweep_modern.py` (random weights plus noise of 1e-3, batch 1, default input size; "
        "`onnxlayer.converters` with `exporter=legacy|dynamo`, opset 18). Default settings (ε = 0.01, B = 8).",
        "",
        f"**{len(done)} exports of {len({r['name'] for r in done})} models: {len(ok)} analyse with 0 opaque leaves, "
        f"{sum(r.get('export') != 'ok' for r in done)} fail to export, "
        f"{sum(r.get('export') == 'ok' and r.get('analysis') != 'ok' for r in done)} are refused or break the analysis, "
        f"{sum(bool(r.get('opaque_leaves')) for r in done)} have opaque leaves.**",
        "",
        "Analysed with: " + ", ".join(f"{label} ({n} rows)" for label, n in sorted(
            Counter(r.get("analysed_with") or "?" for r in done).items())) + ".",
        "",
        "| family | model | exporter | status | C (bits) | P | P̄ | D0 | W | framework params | MACs | output_dim | L "
        "| export s | analyse s |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in done:
        lines.append(
            f"| {r['family']} | {r['name']} | {r['exporter']} | {_status(r)} | {_fmt(r.get('complexity_bits'), 1)} "
            f"| {_fmt(r.get('intrinsic_power'))} | {_fmt(r.get('intrinsic_power_mean'))} | {_fmt(r.get('input_dim'))} "
            f"| {_fmt(r.get('params'))} | {_fmt(r.get('framework_params'))} | {_fmt(r.get('macs'))} "
            f"| {_fmt(r.get('output_dim'))} | {_fmt(r.get('depth'))} | {_fmt(r.get('export_s'), 1)} "
            f"| {_fmt(r.get('analyze_s'), 1)} |")
    pairs = twins(rows)
    equal = [n for n, d in pairs if not d]
    lines += ["", "## Legacy vs dynamo twins", "",
              f"{len(pairs)} models analysed from both exporters; {len(equal)} agree on every field "
              f"({', '.join(FIELDS.values())}) to {TWIN_RTOL:g} relative"
              + (f": {', '.join(equal)}." if equal else "."), ""]
    if len(equal) < len(pairs):
        lines += ["| model | field | legacy | dynamo | relative difference |", "|---|---|--:|--:|--:|"]
        for name, diffs in pairs:
            for f, (a, b, rel) in diffs.items():
                lines.append(f"| {name} | {FIELDS[f]} | {_fmt(a)} | {_fmt(b)} | {rel:.3g} |")
    failures: dict[str, list[str]] = defaultdict(list)
    for r in done:  # grouped by the root cause (after '<-'), model-specific names masked
        if r.get("export") != "ok":
            why = _plain(r.get("export_error", "")).split(" <- ")[-1]
            failures[f"export ({r['exporter']}): {why[:200]}"].append(r["name"])
        elif r.get("analysis") != "ok":
            why = re.sub(r"'[^']*'|unk__\d+", "…", _plain(r.get("analysis_error", "")))
            failures[f"analysis {r.get('analysis')}: {why[:200]}"].append(f"{r['name']} ({r['exporter']})")
        elif r.get("opaque_leaves"):
            ops = ", ".join(f"{k} ×{v}" for k, v in sorted(r.get("opaque_ops", {}).items()))
            failures[f"opaque leaves: {ops}"].append(f"{r['name']} ({r['exporter']})")
    if failures:
        lines += ["", "## Failures and opaque leaves", ""]
        for why, names in sorted(failures.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"- {why.replace('|', '/')} — {', '.join(names)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="model names (timm names or the transformers keys)")
    ap.add_argument("--family", nargs="*", help="family names as in the tables (ViT, Swin, BERT, ...)")
    ap.add_argument("--source", choices=("timm", "transformers", "all"), default="all")
    ap.add_argument("--exporters", nargs="*", choices=EXPORTERS, default=list(EXPORTERS))
    ap.add_argument("--limit", type=int, help="run at most this many exports")
    ap.add_argument("--skip-done", action="store_true", help="skip exports already in the results file")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per export (build, convert, analyse)")
    ap.add_argument("--results", type=Path, default=RESULTS / "sweep_modern.jsonl")
    ap.add_argument("--keep", help="save every exported model in this directory")
    ap.add_argument("--table", action="store_true", help="only rewrite the markdown summary from the results file")
    ap.add_argument("--reanalyse", action="store_true",
                    help="analyse the kept exports of the results file again (no export), appending the new rows")
    ap.add_argument("--label", default="", help="what analysed (e.g. 'onnxlayer 1a2b3c4'), kept in each new row")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), args.keep)), flush=True)
        return 0
    markdown = args.results.with_suffix(".md")
    if not args.table:
        known = [{**r, "exporter": e} for (_n, e), r in latest(args.results).items()
                 if r.get("saved") and Path(r["saved"]).exists()] if args.reanalyse else jobs()
        todo = [j for j in known if j["exporter"] in args.exporters
                and args.source in ("all", j["source"])
                and (not args.only or j["name"] in args.only)
                and (not args.family or j["family"] in args.family)]
        if args.skip_done and not args.reanalyse:
            done = latest(args.results)
            todo = [j for j in todo if (j["name"], j["exporter"]) not in done]
        todo = todo[: args.limit] if args.limit else todo
        args.results.parent.mkdir(parents=True, exist_ok=True)
        for job in todo:
            row = {**run(job, args.timeout, args.keep), "analysed_with": args.label}
            with args.results.open("a") as out:
                out.write(json.dumps(row) + "\n")
            detail = row.get("export_error") or row.get("analysis_error") or (
                f"C={row.get('complexity_bits'):,.1f} D0={row.get('input_dim')} W={row.get('params')} "
                f"opaque={row.get('opaque_ops') or 0}")
            print(f"{row['name']:<32}{row['exporter']:<8}{_status(row):<16}{row['seconds']:>8.1f}s  {detail}", flush=True)
    rows = latest(args.results)
    markdown.write_text(table(rows))
    print(f"{len(rows)} exports in {args.results}; summary in {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
