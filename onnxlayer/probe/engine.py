"""The probe engine: a runnable copy of the model with intermediate outputs, run by onnxruntime.

The analysis never needs weights; the probes do. The runnable model is the prepared graph
view's model (so every leaf tensor name exists) with the original initializers restored
(or seeded random ones, `weights.py`), the source tensors as graph inputs, a symbolic batch
dimension, and the tensors the probes read added as graph outputs. onnxruntime reads it from
a file whose weights are external data it maps, so no serialized copy is made here. Batches
are sized from the bytes those outputs take per sample and what the `max_memory` budget
leaves beside the weights.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from ..errors import OnnxLayerError, SettingsError
from ..graph import DISCRETE, GraphView
from ..loading import copy_model
from ..pattern import ExtraOutput

PROVIDERS = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
#: Largest batch handed to onnxruntime at once (beyond this throughput stops improving).
MAX_BATCH = 256
#: Memory for a batch ≈ this many times the bytes of its fetched outputs and inputs
#: (onnxruntime's own activations, our copies and the pattern codes).
MEMORY_FACTOR = 3.0
BATCH_AXIS = "N"


class ProbeError(OnnxLayerError):
    """The model cannot be probed as asked (missing weights, unsupported provider, ...)."""


class DependencyError(ProbeError):
    """An optional dependency of the probes is not installed."""


def import_onnxruntime():
    """onnxruntime, or a one-line error naming the extra that installs it."""
    try:
        import onnxruntime
    except ImportError:
        raise DependencyError('the probes run the model with onnxruntime, which is not installed: pip install "onnxlayer[probe]"') from None
    return onnxruntime


def select_providers(provider: str) -> list[str]:
    """Execution providers for `auto` (CUDA when onnxruntime-gpu offers it, else CPU), `cpu` or `cuda`."""
    if provider not in PROVIDERS:
        raise SettingsError(f"--provider {provider!r}: choose one of {', '.join(PROVIDERS)}")
    ort = import_onnxruntime()
    available = list(ort.get_available_providers())
    if provider == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if provider == "cuda":
        raise ProbeError(
            "--provider cuda: this onnxruntime has no CUDAExecutionProvider (available: "
            f"{', '.join(available) or 'none'}); install onnxruntime-gpu (pip install \"onnxlayer[gpu]\") "
            "on a machine with CUDA, or use --provider cpu"
        )
    return [CPU]


def provider_label(name: str) -> str:
    return {CUDA: "cuda", CPU: "cpu"}.get(name, name)


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Source:
    """One source tensor (SPEC §1) fed by the probes: a slice of the flat input vector."""

    name: str
    dims: tuple[int, ...]  # per-sample shape as in the graph view (batch dim counted as 1)
    dtype: np.dtype
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.dims)


def sources_of(view: GraphView) -> list[Source]:
    out, offset = [], 0
    for t in view.sources:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        out.append(Source(t.name, t.dims, np.dtype(dtype), offset))
        offset += t.size
    return out


def discrete_feeds(view: GraphView, fed: set[str]) -> dict[str, np.ndarray]:
    """Integer graph inputs (token ids, masks) are held at zeros: the probes move the float sources."""
    feeds = {}
    for name in view.inputs:
        t = view.tensors[name]
        if name in fed or t.role != DISCRETE:
            continue
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        feeds[name] = np.zeros(t.dims, dtype=dtype)
    return feeds


# ----------------------------------------------------------------------------- the runnable model


def runnable_model(
    view: GraphView,
    initializers: Sequence[onnx.TensorProto],
    fetch: Iterable[str],
    extras: Sequence[ExtraOutput] = (),
) -> onnx.ModelProto:
    """The prepared model with real initializers, sources as inputs, a symbolic batch dim, and `fetch` as outputs."""
    # the view's own initializers are not copied; its value infos were inferred with batch 1: onnxruntime infers again
    model = copy_model(view.model, skip_graph=("initializer", "value_info"))
    g = model.graph
    g.initializer.extend(initializers)

    # sources computed inside the graph (embedding outputs) become inputs: cut their producers
    computed = [t.name for t in view.sources if t.producer is not None]
    cut = {view.tensors[name].producer for name in computed}
    for k in cut:
        node = view.nodes_by_index[k]
        others = [o for o in node.outputs if o and o not in computed and (view.tensors[o].consumers or o in view.outputs)]
        if others:
            raise ProbeError(f"cannot feed the source tensors of node {node.name!r} ({node.op_type}): it also computes {others[0]!r}")
    extra_by_node: dict[int, list[ExtraOutput]] = {}
    for e in extras:
        extra_by_node.setdefault(e.node_index, []).append(e)
    kept = []
    for k, proto in enumerate(g.node):
        if k in cut:
            continue
        for e in extra_by_node.get(k, ()):
            while len(proto.output) <= e.slot:
                proto.output.append("")
            proto.output[e.slot] = e.tensor
        kept.append(proto)
    del g.node[:]
    g.node.extend(kept)

    inputs = list(g.input)
    del g.input[:]
    init_names = {i.name for i in initializers}
    for vi in inputs:
        if vi.name not in init_names:
            g.input.append(_batched(vi))
    for name in computed:
        t = view.tensors[name]
        g.input.append(_batched(helper.make_tensor_value_info(name, t.elem_type, list(t.dims))))

    declared = [o.name for o in g.output]
    del g.output[:]
    extra_types = {e.tensor: e.elem_type for e in extras}
    for name in dict.fromkeys(declared + list(fetch) + list(extra_types)):
        if name in computed or name in view.inputs:
            continue  # an input: read from the feeds
        elem = extra_types.get(name) or view.tensors[name].elem_type
        g.output.append(helper.make_tensor_value_info(name, elem, None))
    return model


def _batched(vi: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    """A copy of an input's value info whose first dim is the symbolic batch axis."""
    out = onnx.ValueInfoProto()
    out.CopyFrom(vi)
    tt = out.type.tensor_type
    if out.type.HasField("tensor_type") and tt.HasField("shape") and len(tt.shape.dim) >= 1:
        d = tt.shape.dim[0]
        d.Clear()
        d.dim_param = BATCH_AXIS
    return out


# ----------------------------------------------------------------------------- sessions


class Engine:
    """An onnxruntime session over the runnable model, fed flat input vectors in memory-bounded batches.

    `model` is the runnable model's file (its weights external data beside it, `weights.RuntimeWeights`):
    onnxruntime reads it by path, so no serialized copy exists here. `held` bytes of `max_memory`
    (GB) are taken already (the weights onnxruntime holds); batches get the rest.
    """

    def __init__(
        self,
        view: GraphView,
        model: str,
        fetch: Sequence[str],
        providers: Sequence[str],
        max_memory: float,
        shapes: Mapping[str, tuple[int, ...]] | None = None,
        extra_types: Mapping[str, int] | None = None,
        held: int = 0,
    ) -> None:
        ort = self._ort = import_onnxruntime()
        self.view = view
        self.sources = sources_of(view)
        self.input_dim = sum(s.size for s in self.sources)
        self.discrete = discrete_feeds(view, {s.name for s in self.sources})
        self.fetch = list(dict.fromkeys(fetch))
        shapes = dict(shapes or {})
        self.shapes = {n: shapes.get(n) or view.tensors[n].dims for n in self.fetch}
        self.outputs = [o for o in self.fetch if o not in {s.name for s in self.sources}]
        types = dict(extra_types or {})
        itemsize = {n: np.dtype(onnx.helper.tensor_dtype_to_np_dtype(types.get(n) or view.tensors[n].elem_type)).itemsize for n in self.fetch}
        self.bytes_per_sample = sum(math.prod(self.shapes[n]) * itemsize[n] for n in self.fetch) + 8 * self.input_dim
        budget = max(float(max_memory), 0.0) * 2**30 - held
        fit = int(budget // (MEMORY_FACTOR * max(self.bytes_per_sample, 1)))
        if fit < 1:  # before the session: a model past the budget costs nothing
            need = MEMORY_FACTOR * self.bytes_per_sample / 2**30
            weights = f" beside the model's weights onnxruntime holds ({held / 2**30:.2f} GB)" if held else ""
            raise SettingsError(f"--max-memory {max_memory:g} GB is below what one sample needs (about {need:.2f} GB){weights}")
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures surface as ProbeError with onnxruntime's message
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(model, options, providers=list(providers))
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProbeError(f"onnxruntime cannot load the model: {msg}") from None
        self.provider = provider_label(self.session.get_providers()[0])
        self.batchable = self._check_batching()
        self.batch_size = min(fit, MAX_BATCH) if self.batchable else 1

    def close(self) -> None:
        """Let onnxruntime free the session (its copy of the weights); `run` fails afterwards."""
        self.session = None

    def _check_batching(self) -> bool:
        """Whether the model runs a batch of 2 with every fetched tensor batched along axis 0."""
        if not all(len(s.dims) >= 1 and s.dims[0] == 1 for s in self.sources):
            return False
        x = np.zeros((2, self.input_dim))
        quiet = self._ort.RunOptions()
        quiet.log_severity_level = 4  # a failing trial is expected for fixed-batch graphs
        try:
            got = self._raw(x, batched=True, options=quiet)
        except Exception:
            return False
        return all(a.shape[:1] == (2,) and tuple(a.shape[1:]) == tuple(self.shapes[n][1:]) for n, a in got.items())

    def _feeds(self, x: np.ndarray, batched: bool) -> dict[str, np.ndarray]:
        feeds = {}
        b = x.shape[0]
        for s in self.sources:
            part = x[:, s.offset : s.offset + s.size]
            if batched:
                feeds[s.name] = part.reshape((b,) + s.dims[1:]).astype(s.dtype, copy=False)
            else:
                feeds[s.name] = part.reshape(s.dims).astype(s.dtype, copy=False)
        feeds.update(self.discrete)
        if batched and self.discrete:
            feeds.update({k: np.broadcast_to(v, (b,) + v.shape[1:]).copy() for k, v in self.discrete.items()})
        return feeds

    def _raw(self, x: np.ndarray, batched: bool, options=None) -> dict[str, np.ndarray]:
        feeds = self._feeds(x, batched)
        values = self.session.run(self.outputs, feeds, options)
        got = dict(zip(self.outputs, values))
        for s in self.sources:
            if s.name in self.fetch:
                got[s.name] = feeds[s.name]
        return got

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate flat input vectors `x` (B × D0, any B); each fetched array is (B, *per-sample dims)."""
        x = np.asarray(x)
        b = x.shape[0]
        try:
            if self.batchable:
                got = self._raw(x, batched=True)
            else:
                parts = [self._raw(x[i : i + 1], batched=False) for i in range(b)]
                got = {n: np.stack([p[n] for p in parts]) for n in parts[0]} if parts else {}
        except Exception as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProbeError(f"onnxruntime failed to run the model: {msg[:400]}") from None
        out = {}
        for n, a in got.items():
            shape = (b,) + tuple(self.shapes[n])
            if a.size != math.prod(shape):
                raise ProbeError(f"tensor {n!r} has shape {list(a.shape[1:])} when run,"
                                 f" but the analysis expects {list(self.shapes[n])}; check the inputs' shapes (--input-shape)")
            out[n] = a.reshape(shape)
        return out

    def batches(self, x: np.ndarray, progress: "Progress | None" = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(start row, fetched arrays) for consecutive batches of `x`."""
        for start in range(0, x.shape[0], self.batch_size):
            chunk = x[start : start + self.batch_size]
            got = self.run(chunk)
            if progress is not None:
                progress.update(chunk.shape[0])
            yield start, got


# ----------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal and the run is long."""

    def __init__(self, label: str, total: int, enabled: bool | None = None, stream=None, delay: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(self.stream.isatty()) if enabled is None else enabled
        self.label, self.total, self.done = label, max(int(total), 1), 0
        self.start = time.monotonic()
        self.delay = delay
        self.shown = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.delay or now - self.shown < 0.2:
            return
        self.shown = now
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {now - self.start:5.1f}s")
        self.stream.flush()

    def add_total(self, n: int) -> None:
        self.total += n

    def close(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * (len(self.label) + 60) + "\r")
            self.stream.flush()


