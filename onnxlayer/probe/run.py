"""`probe()`: run the model and measure what the static bounds promise.

analysis (graph view, leaves, walk, bound) → runnable model (weights.py, engine.py) →
patterns per leaf (patterns.py) → lines and bisection (lines.py) with activation
statistics (stats.py) → local rank (rank.py) → ProbeResult (result.py).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..version import __version__
from ..analysis import Analysis, run_analysis
from ..errors import SettingsError, out_of_memory_as_error
from ..graph import DATA
from ..loading import ModelSource, load_model
from ..pattern import LeafPattern, NotProbed
from ..transfer import Settings
from . import lines as line_mod
from .engine import Engine, Progress, runnable_model, select_providers
from .patterns import leaf_pattern
from .rank import DEFAULT_RTOL, DEFAULT_STEP, local_rank
from .result import ProbeLeaf, ProbeResult, ProbeSummary
from .stats import ActivationStats
from .weights import RuntimeWeights, check_constants, initializers

ORIGINS = ("gaussian", "zeros")
#: Bisection may spend about this many multiply-accumulates per line (2^32 ≈ 4.3 G):
#: generous for small models, a few evaluations for an ImageNet CNN.
REFINE_MACS = 1 << 32
MIN_REFINE, MAX_REFINE_PER_POINT = 8, 64
#: Models above this many MACs per sample get fewer rank directions by default.
LARGE_MACS = 10**8
RESOLUTION = 1e-6  # bisection stops at |Δt| < RESOLUTION · T


def auto_refine(macs: int, points: int) -> int:
    """Default bisection budget per line (deterministic, from the model's MACs)."""
    if macs <= 0:
        return MAX_REFINE_PER_POINT * points
    return int(min(max(REFINE_MACS // macs, MIN_REFINE), MAX_REFINE_PER_POINT * points))


def auto_directions(input_dim: int, macs: int) -> int:
    return max(1, min(input_dim, 16 if macs > LARGE_MACS else 64))


def load_samples(samples, sources) -> np.ndarray:
    """User samples (a .npz path or a mapping name → array with a leading sample axis) as rows of D0."""
    if isinstance(samples, (str, os.PathLike)):
        try:
            with np.load(samples, allow_pickle=False) as data:
                samples = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise SettingsError(f"--inputs {samples}: cannot read ({exc})") from None
    names = [s.name for s in sources]
    missing = [n for n in names if n not in samples]
    if missing:
        raise SettingsError(f"--inputs lacks {', '.join(repr(m) for m in missing)}; keys must be the input names: {', '.join(names)}")
    parts, count = [], None
    for s in sources:
        a = np.asarray(samples[s.name])
        if tuple(a.shape[1:]) == tuple(s.dims):  # (N, 1, ...) with the batch axis kept
            n = a.shape[0]
        elif len(s.dims) >= 1 and s.dims[0] == 1 and tuple(a.shape[1:]) == tuple(s.dims[1:]):
            n = a.shape[0]
        else:
            raise SettingsError(f"--inputs {s.name!r} has shape {list(a.shape)}; expected [N, {', '.join(map(str, s.dims[1:]))}]")
        if count is not None and n != count:
            raise SettingsError("--inputs arrays disagree on the number of samples")
        count = n
        parts.append(a.reshape(n, -1).astype(np.float64))
    if not count:
        raise SettingsError("--inputs holds no samples")
    x = np.concatenate(parts, axis=1)
    if not np.all(np.isfinite(x)):
        raise SettingsError("--inputs holds non-finite values")
    return x


def _ancestors(walked, positions: Mapping[int, int]) -> dict[int, set[int]]:
    """For each probed leaf (by position in the pattern list), the probed leaves upstream of it."""
    producer = {o: k for k, w in enumerate(walked) for o in w.leaf.outputs if o}
    up: dict[int, set[int]] = {}
    for k, w in enumerate(walked):
        acc: set[int] = set()
        for name in w.leaf.inputs + w.leaf.node.implicit_inputs:
            p = producer.get(name)
            if p is not None and p != k:
                acc |= up[p]
                acc.add(p)
        up[k] = acc
    return {positions[k]: {positions[a] for a in up[k] if a in positions} for k in positions}


@dataclass
class ProbeSetup:
    """Everything the measurements share: the analysis, the patterns and the line engine; `close()`
    removes the weights file the engines read."""

    view: object
    walked: list
    analysis: object
    weights: RuntimeWeights
    patterns: list[LeafPattern]
    not_probed: dict[int, str]
    fetch: list[str]
    extras: list
    extra_shapes: dict[str, tuple[int, ...]]
    extra_types: dict[str, int]
    engine: Engine
    providers: list[str]
    weights_drawn: int
    warnings: list[str]
    label: str | None

    def close(self) -> None:
        self.engine.close()
        self.weights.close()

    def __enter__(self) -> "ProbeSetup":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def setup_probe(
    model: ModelSource,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    provider: str = "auto",
    random_weights: str | None = None,
    seed: int = 0,
    max_memory: float = 2.0,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    path: str | None = None,
) -> ProbeSetup:
    """Analyse the model, build its runnable copy and the pattern of every nonlinear leaf.

    The weights go to a temporary file once (`RuntimeWeights`), not into copies here; the
    engine's batches get what `max_memory` (GB) leaves beside the weights onnxruntime holds."""
    if not (max_memory > 0):
        raise SettingsError("--max-memory must be a positive number of GB")
    providers = select_providers(provider)
    settings = Settings(float(tolerance), float(domain))
    original = load_model(model)
    check_constants(original)
    label = path or (str(model) if isinstance(model, (str, os.PathLike)) else None)
    ran = run_analysis(original, input_shapes, settings, path=label)
    tensors, drawn = initializers(ran.view, original, random_weights, seed)
    weights = RuntimeWeights(tensors)
    try:
        return _setup(ran, weights, drawn, providers, max_memory, label)
    except BaseException:
        weights.close()
        raise


def _setup(ran: Analysis, weights: RuntimeWeights, drawn: int, providers: list[str], max_memory: float,
           label: str | None) -> ProbeSetup:
    """`setup_probe` once the weights are written: the patterns and the line engine."""
    view, walked, analysis, settings = ran.view, ran.walked, ran.result, ran.settings
    warnings = list(analysis.warnings)
    statics = weights.values()
    patterns: list[LeafPattern] = []
    not_probed: dict[int, str] = {}
    for k, w in enumerate(walked):
        try:
            p = leaf_pattern(k, w.leaf, view, settings, w.lta, statics)
        except NotProbed as exc:
            not_probed[k] = str(exc)
            continue
        if p is not None:
            patterns.append(p)
    if not_probed:
        warnings.append(f"{len(not_probed)} nonlinear leaf(s) not probed (their transitions are missing from the totals): "
                        + "; ".join(f"{walked[k].leaf.op_type} {walked[k].leaf.name!r}: {r}" for k, r in list(not_probed.items())[:3]))
    fetch = list(dict.fromkeys(t for p in patterns for t in p.tensors))
    extras = [e for p in patterns for e in p.extras]
    extra_shapes = {e.tensor: view.tensors[view.nodes_by_index[e.node_index].outputs[0]].dims for e in extras}
    extra_types = {e.tensor: e.elem_type for e in extras}
    if not fetch:  # nothing nonlinear: still run the model (rank needs it)
        fetch = [o for o in view.outputs if view.tensors[o].role == DATA][:1]
    engine = Engine(view, weights.save(runnable_model(view, weights.tensors, fetch, extras)), fetch, providers, max_memory,
                    extra_shapes, extra_types, held=weights.nbytes)
    return ProbeSetup(view, walked, analysis, weights, patterns, not_probed, fetch, extras, extra_shapes, extra_types,
                      engine, providers, drawn, warnings, label)


def probe(
    model: ModelSource,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    provider: str = "auto",
    lines: int = 4,
    points: int = 256,
    span: float | None = None,
    origin: str = "gaussian",
    directions: int | None = None,
    rank_points: int = 1,
    seed: int = 0,
    input_scale: float = 1.0,
    inputs=None,
    random_weights: str | None = None,
    max_memory: float = 2.0,
    refine: int | None = None,
    resolution: float = RESOLUTION,
    rank_tolerance: float = DEFAULT_RTOL,
    rank_step: float = DEFAULT_STEP,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    progress: bool | None = None,
    path: str | None = None,
) -> ProbeResult:
    """Probe a model on onnxruntime: regions along lines, local ranks and activation statistics.

    `model` is a path, bytes or ModelProto. Lines are x0 + t·v with t ∈ [−span, span]
    (default span σ·√D0), v a random unit direction, x0 Gaussian (σ = `input_scale`),
    zeros, or the `inputs` samples. `refine` bounds the bisection evaluations per line;
    `resolution` is where bisection stops, as a fraction of the span. Deterministic for a
    given seed (and memory budget, which sets the batches).
    """
    started = time.monotonic()
    if lines < 1 or points < 2:
        raise SettingsError("--lines must be ≥ 1 and --points ≥ 2")
    if origin not in ORIGINS:
        raise SettingsError(f"--origin {origin!r}: choose {' or '.join(ORIGINS)}")
    if not (input_scale > 0 and math.isfinite(input_scale)):
        raise SettingsError("--input-scale must be a positive number")
    if span is not None and not (span > 0 and math.isfinite(span)):
        raise SettingsError("--span must be a positive number")
    if not (1e-7 <= resolution < 1):
        # the inputs are float32: finer steps in t stop changing them
        raise SettingsError("the bisection resolution is a fraction of T in [1e-7, 1)")
    if (directions is not None and directions < 0) or rank_points < 0:
        raise SettingsError("--directions and --rank-points must be ≥ 0")
    if refine is not None and refine < 0:
        raise SettingsError("--refine must be ≥ 0")
    with out_of_memory_as_error(max_memory * 2**30), \
            setup_probe(model, input_shapes, provider=provider, random_weights=random_weights, seed=seed,
                        max_memory=max_memory, tolerance=tolerance, domain=domain, path=path) as setup:
        return _measure(setup, lines=lines, points=points, span=span, origin=origin, directions=directions,
                        rank_points=rank_points, seed=seed, input_scale=input_scale, inputs=inputs,
                        random_weights=random_weights, max_memory=max_memory, refine=refine, resolution=resolution,
                        rank_tolerance=rank_tolerance, rank_step=rank_step, progress=progress, started=started)


def _measure(setup: ProbeSetup, *, lines: int, points: int, span: float | None, origin: str, directions: int | None,
             rank_points: int, seed: int, input_scale: float, inputs, random_weights: str | None, max_memory: float,
             refine: int | None, resolution: float, rank_tolerance: float, rank_step: float, progress: bool | None,
             started: float) -> ProbeResult:
    """`probe`'s measurements on a set-up model: lines with bisection, then ranks; the line engine
    is closed before the rank engine starts (one session's copy of the weights at a time)."""
    view, walked, analysis, patterns = setup.view, setup.walked, setup.analysis, setup.patterns
    engine, not_probed, warnings, label = setup.engine, setup.not_probed, setup.warnings, setup.label
    fetch, extras, extra_shapes, extra_types = setup.fetch, setup.extras, setup.extra_shapes, setup.extra_types
    weights, providers, drawn = setup.weights, setup.providers, setup.weights_drawn
    position = {p.index: j for j, p in enumerate(patterns)}
    d_in = engine.input_dim

    seeds = np.random.SeedSequence(seed).spawn(4)
    rng_origin, rng_dir, rng_rank, _ = (np.random.default_rng(s) for s in seeds)
    samples = load_samples(inputs, engine.sources) if inputs is not None else None
    if origin == "zeros":
        origins = np.zeros((lines, d_in))
    elif samples is not None:
        origins = samples[np.arange(lines) % samples.shape[0]]
    else:
        origins = rng_origin.normal(0.0, input_scale, (lines, d_in))
    dirs = rng_dir.standard_normal((lines, d_in))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    span_t = float(span) if span is not None else input_scale * math.sqrt(d_in)
    budget = auto_refine(analysis.summary.macs, points) if refine is None else max(int(refine), 0)

    stats = ActivationStats(patterns)
    bar = Progress("probe lines", lines * points, enabled=progress)
    walk_result = line_mod.walk_lines(engine, patterns, origins, dirs, span_t, points, resolution * span_t, budget,
                                      stats if samples is None else None, bar, memory=max_memory * 2**30 / 2)
    budget = walk_result.budget  # lowered where the patterns kept for bisection would not fit
    bar.close()
    samples_source = "lines"
    if samples is not None:
        samples_source = "inputs"
        bar = Progress("probe inputs", samples.shape[0], enabled=progress)
        for _, got in engine.batches(samples, bar):
            line_mod.leaf_codes(patterns, got, stats)
        bar.close()
    engine.close()

    # ---------------------------------------------------------------- rank
    k_dirs = auto_directions(d_in, analysis.summary.macs) if directions is None else int(directions)
    rank_tensors = []
    leaf_tensor: dict[int, str] = {}
    for k, w in enumerate(walked):
        outs = [o for o in w.leaf.outputs if o and view.tensors[o].role == DATA]
        if outs:
            leaf_tensor[k] = outs[0]
            rank_tensors.append(outs[0])
    rank_tensors = list(dict.fromkeys(rank_tensors))
    ranks: dict[str, list[int]] = {}
    rank_inexact = 0
    rank_evals = 0
    n_rank = rank_points if k_dirs > 0 else 0
    if n_rank and rank_tensors:
        if samples is not None:
            at = samples[np.arange(n_rank) % samples.shape[0]]
        elif origin == "zeros":
            at = np.zeros((n_rank, d_in))
        else:
            at = rng_rank.normal(0.0, input_scale, (n_rank, d_in))
        rank_fetch = list(dict.fromkeys(rank_tensors + fetch))
        rank_model = weights.save(runnable_model(view, weights.tensors, rank_fetch, extras))
        rank_engine = Engine(view, rank_model, rank_fetch, providers, max_memory, extra_shapes, extra_types, held=weights.nbytes)
        bar = Progress("probe rank", n_rank * (k_dirs + 1), enabled=progress)
        report = local_rank(rank_engine, patterns, rank_tensors, at, k_dirs, input_scale * math.sqrt(d_in), rng_rank,
                            rank_tolerance, rank_step, bar)
        bar.close()
        rank_engine.close()
        ranks = report.ranks
        rank_inexact = report.inexact_columns
        rank_evals = report.evaluations
        if rank_inexact:
            warnings.append(f"{rank_inexact} rank column(s) crossed a pattern change even at the smallest step; their ranks may be inexact")

    # ---------------------------------------------------------------- assemble
    length = lines * 2.0 * span_t
    reaching = {position[k] for k in position if walked[k].reaches_output}
    regions = line_mod.line_regions(walk_result, reaching)
    ancestors = _ancestors(walked, position)
    out_leaves = []
    total_transitions = 0
    for k, (w, r) in enumerate(zip(walked, analysis.leaves)):
        p = position.get(k)
        transitions = estimated = local = None
        groups = ()
        if p is not None:
            transitions, estimated = line_mod.leaf_transitions(walk_result, p)
            local = line_mod.local_regions(walk_result, p, ancestors[p])
            groups = stats.report(patterns[p].index)
            total_transitions += transitions
        main = groups[0] if groups else None
        tensor = leaf_tensor.get(k)
        leaf_ranks = ranks.get(tensor) if tensor else None
        note = patterns[p].note if p is not None else not_probed.get(k, "")
        out_leaves.append(ProbeLeaf(
            name=r.name, op_type=r.op_type, kind=r.kind, exact=r.exact, units=r.units,
            complexity_bits=r.complexity_bits, d_in=r.d_in, effective_dim=r.d_out, rank_cap=r.rank_cap,
            reaches_output=r.reaches_output, probed=p is not None,
            transitions=transitions, transitions_estimated=estimated,
            transitions_per_unit_length=None if transitions is None else transitions / length,
            local_regions=local, local_region_bits=None if local is None else line_mod.log2_count(local),
            rank=max(leaf_ranks) if leaf_ranks else None, rank_min=min(leaf_ranks) if leaf_ranks else None,
            inactive_fraction=main.inactive_fraction if main else None,
            dead_units=main.dead_units if main else None,
            frozen_units=sum(g.frozen_units for g in groups) if groups else None,
            groups=groups, note=note,
        ))
    exact = (walk_result.unresolved == 0 and not not_probed
             and all(w.lta.exact or not w.lta.groups for w in walked))
    summary = ProbeSummary(
        lines=lines, points=points, span=span_t, origin="inputs" if samples is not None and origin != "zeros" else origin,
        input_scale=input_scale, seed=seed, provider=engine.provider, input_dim=d_in,
        regions_per_line=float(np.mean(regions)), regions_max=int(max(regions)),
        region_bits_max=line_mod.log2_count(max(regions)), region_bound_bits=analysis.summary.complexity_bits,
        transitions=total_transitions, transitions_per_unit_length=total_transitions / length,
        resolution=resolution * span_t, resolution_relative=resolution, refine_budget=budget,
        evaluations=walk_result.evaluations + rank_evals, unresolved_intervals=walk_result.unresolved, exact=exact,
        directions=k_dirs, rank_points=n_rank, rank_tolerance=rank_tolerance, rank_step=rank_step,
        rank_inexact_columns=rank_inexact, batch_size=engine.batch_size, random_weights=random_weights,
        weights_drawn=drawn, samples=stats.samples(), samples_source=samples_source,
        unprobed_leaves=len(not_probed), seconds=time.monotonic() - started,
    )
    if walk_result.unresolved:
        warnings.append(f"the bisection budget ({budget} evaluations per line) left {walk_result.unresolved} interval(s) open;"
                        " their transitions are estimated from the units that changed (raise --refine)")
    return ProbeResult(label, summary, tuple(out_leaves), tuple(warnings), __version__)
