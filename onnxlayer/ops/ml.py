"""Classic machine-learning models (ai.onnx.ml, SPEC v1.1 §2): tree ensembles, linear models,
SVMs, scalers and normalizers, encoders.

X holds one sample per row: features along the last axis, every other axis a sample. A tree
ensemble is piecewise constant over the arrangement of its distinct split hyperplanes: one unit
of 2 pieces per distinct (feature, threshold) split and sample, rank 0 on its outputs. Linear
models and scalers are linear. A classifier's label is the argmax of its scores (or, for an
SVM, the signs of its pairwise decisions): those pieces are its decision regions. A
`post_transform` adds the units of the map it names (as the ai.onnx op would: Sigmoid,
Softmax's exps). Encoders map categories by equality: from integer or string inputs their
float output is a source (SPEC §1), and of float data they are piecewise constant (rank 0).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .. import onnxapi
from ..deferred import numpy as np
from ..pattern import GroupPattern, LeafPattern, PatternContext, compact, sign_pattern
from ..registry import LeafContext, groups, register
from ..transfer import LTA, ScalarFunction, UnitGroup
from .activations import POWER, SIGMOID, TANH
from .normalization import EXP_SHIFTED, vector_norm
from .shape import moves

ML_DOMAIN = "ai.onnx.ml"


def _normal_quantile(p: float) -> float:
    """Φ⁻¹(p), the standard normal quantile (statistics, imported when a probit link is fitted)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


#: The RBF kernel's unit exp(−γr) of the squared distance r, fitted over γr ∈ [0, B] (beyond B it
#: is within e^{−B} of 0): the same curve for every γ.
RBF = ScalarFunction("rbf", lambda s: np.exp(-s), lambda bound: (0.0, bound))
#: The probit link Φ⁻¹(p) on (0, 1), fitted where p is 1/(2B) away from the poles (as artanh on
#: [-tanh B, tanh B] keeps away from its own).
PROBIT = ScalarFunction("probit", lambda p: np.vectorize(_normal_quantile, otypes=[np.float64])(p),
                        lambda bound: (0.5 / bound, 1.0 - 0.5 / bound), increasing=True)
#: TreeEnsemble's set-membership branch (its nodes_modes code).
BRANCH_MEMBER = 6


def _rows(ctx: LeafContext) -> tuple[int, int]:
    """(samples, features) of X."""
    dims = ctx.in_dims(0)
    features = dims[-1] if dims else 1
    return (ctx.in_size(0) // features if features else 0), features


def _values(value: Any) -> list:
    """An attribute's list of numbers or strings, whether a repeated field or a tensor."""
    if value is None:
        return []
    if hasattr(value, "dims"):  # a TensorProto
        return onnxapi.to_array(value).ravel().tolist()
    return [v.decode() if isinstance(v, bytes) else v for v in value]


def post_transform(ctx: LeafContext, rows: int, scores: int, with_max: bool = True) -> tuple[UnitGroup, ...]:
    """The units of the post_transform over `rows` vectors of `scores`: a sigmoid or a probit per
    score, or Softmax's exps (and its max, unless the label already counts that argmax)."""
    name = ctx.attr("post_transform") or "NONE"
    if name == "LOGISTIC":
        return groups((rows * scores, ctx.pieces(SIGMOID)))
    if name == "PROBIT":
        return groups((rows * scores, ctx.pieces(PROBIT)))
    if name in ("SOFTMAX", "SOFTMAX_ZERO"):
        return groups((rows if with_max else 0, scores), (rows * scores, ctx.pieces(EXP_SHIFTED)))
    return ()


def _score_rank(ctx: LeafContext, rows: int, features: int, scores: int) -> int:
    """rows·min(F, K): the scores' Jacobian; a softmax removes one dimension per vector."""
    softmax = ctx.attr("post_transform") in ("SOFTMAX", "SOFTMAX_ZERO")
    return rows * min(features, max(scores - softmax, 0))


# ----------------------------------------------------------------------------- tree ensembles


def _member_sets(values: list[float]) -> Iterable[list[float]]:
    """TreeEnsemble's membership_values: one set per BRANCH_MEMBER node, separated by NaN."""
    current: list[float] = []
    for v in values:
        if math.isnan(v):
            yield current
            current = []
        else:
            current.append(v)
    yield current


def tree_splits(ctx: LeafContext) -> set[tuple[int, float]]:
    """The distinct (feature, threshold) pairs of the ensemble's branches; a set-membership
    branch tests each member value (each a hyperplane x_f = v)."""
    features = _values(ctx.attr("nodes_featureids"))
    if ctx.leaf.op_type == "TreeEnsemble":
        members = _member_sets(_values(ctx.attr("membership_values")))
        splits: set[tuple[int, float]] = set()
        for f, t, mode in zip(features, _values(ctx.attr("nodes_splits")), _values(ctx.attr("nodes_modes"))):
            if mode == BRANCH_MEMBER:
                splits.update((f, float(v)) for v in next(members, []))
            else:
                splits.add((f, float(t)))
        return splits
    thresholds = _values(ctx.attr("nodes_values_as_tensor")) or _values(ctx.attr("nodes_values"))
    modes = _values(ctx.attr("nodes_modes"))
    return {(f, float(t)) for f, t, mode in zip(features, thresholds, modes) if mode != "LEAF"}


def tree_pattern(ctx: PatternContext) -> LeafPattern:
    """The side of each distinct split each sample falls on (both pieces constant)."""
    x = ctx.leaf.inputs[0]
    splits = sorted(tree_splits(ctx))
    features = np.array([f for f, _ in splits], dtype=np.int64)
    thresholds = np.array([t for _, t in splits], dtype=np.float64)
    rows, width = _rows(ctx)

    def codes(f):
        v = np.asarray(f[x], dtype=np.float64).reshape(-1, rows, width)[:, :, features] > thresholds
        return [compact(v.reshape(v.shape[0], -1), 2)]

    return ctx.make([GroupPattern(rows * len(splits), 2, (0, 1), "split")], (x,), codes)


@register("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble", domain=ML_DOMAIN, kind="pwl",
          pattern=tree_pattern)
def tree_ensemble(ctx: LeafContext) -> LTA:
    """piecewise constant over its S distinct (feature, threshold) splits: S units of 2 pieces per sample, rank 0"""
    rows, _ = _rows(ctx)
    return ctx.lta(groups((rows * len(tree_splits(ctx)), 2)), 0)


# ----------------------------------------------------------------------------- linear models


@register("LinearClassifier", domain=ML_DOMAIN, kind="pwl|smooth",
          no_pattern="not written yet: the argmax of the scores and the post_transform's pieces")
def linear_classifier(ctx: LeafContext) -> LTA:
    """scores x·Wᵀ + b (linear, rank ≤ rows·min(F, K)); the label their argmax (K pieces, 2 for one score); plus the post_transform"""
    rows, features = _rows(ctx)
    scores = len(_values(ctx.attr("coefficients"))) // features
    units = groups((rows, max(scores, 2))) + post_transform(ctx, rows, scores, with_max=False)
    kind = "pwl" if (ctx.attr("post_transform") or "NONE") == "NONE" else "smooth"
    return ctx.lta(units, _score_rank(ctx, rows, features, scores), kind=kind)


@register("LinearRegressor", domain=ML_DOMAIN, kind="linear|smooth",
          no_pattern="not written yet: the post_transform's pieces")
def linear_regressor(ctx: LeafContext) -> LTA:
    """x·Wᵀ + b: linear, rank ≤ rows·min(F, targets); a post_transform adds its units"""
    rows, features = _rows(ctx)
    targets = int(ctx.attr("targets") or 1)
    units = post_transform(ctx, rows, targets)
    return ctx.lta(units, _score_rank(ctx, rows, features, targets), kind="smooth" if units else "linear")


@register("Scaler", domain=ML_DOMAIN, kind="linear")
def scaler(ctx: LeafContext) -> LTA:
    """(x − offset)·scale per feature: linear, rank ≤ output size"""
    return ctx.lta((), ctx.out_size())


@register("Normalizer", domain=ML_DOMAIN, kind="normalization",
          no_pattern="not written yet: the norm of each row")
def normalizer(ctx: LeafContext) -> LTA:
    """each row over its norm: L2 a normalization (G units of 1/√x), L1 adds |x| units, MAX a max unit; rank ≤ size − rows"""
    _, features = _rows(ctx)
    return vector_norm(ctx, str(ctx.attr("norm")), features)


# ----------------------------------------------------------------------------- support vector machines


def _kernel(ctx: LeafContext, rows: int, vectors: int) -> tuple[UnitGroup, ...]:
    """One unit per support vector and sample, with the pieces of the kernel's scalar function:
    RBF exp(−γr) over γr ∈ [0, B], POLY t^degree and SIGMOID tanh t of t = γ⟨x, v⟩ + c on [-B, B]."""
    kernel = ctx.attr("kernel_type") or "LINEAR"
    params = [float(p) for p in _values(ctx.attr("kernel_params"))] + [0.0, 0.0, 0.0]
    if kernel == "RBF":
        pieces = ctx.pieces(RBF)
    elif kernel == "POLY":
        pieces = ctx.pieces(POWER, params[2])
    elif kernel == "SIGMOID":
        pieces = ctx.pieces(TANH)
    else:
        return ()
    return groups((rows * vectors, pieces))


@register("SVMClassifier", domain=ML_DOMAIN, kind="pwl|smooth",
          no_pattern="not written yet: the kernel's piece per support vector and the sign of each decision")
def svm_classifier(ctx: LeafContext) -> LTA:
    """kernel units per support vector; the label from the signs of the C(C−1)/2 pairwise decisions (linear SVM: the argmax of C scores); Platt sigmoids with probabilities"""
    rows, features = _rows(ctx)
    vectors = len(_values(ctx.attr("support_vectors"))) // features
    classes = max(len(_values(ctx.attr("classlabels_ints"))) + len(_values(ctx.attr("classlabels_strings"))), 2)
    if vectors:
        decisions = classes * (classes - 1) // 2
        label = groups((rows * decisions, 2))
    else:  # a linear SVM: one score per class, as LinearClassifier
        decisions = len(_values(ctx.attr("coefficients"))) // features
        label = groups((rows, max(decisions, 2)))
    platt = groups((rows * decisions if _values(ctx.attr("prob_a")) else 0, ctx.pieces(SIGMOID)))
    smooth = _kernel(ctx, rows, vectors) + platt + post_transform(ctx, rows, decisions, with_max=not vectors)
    return ctx.lta(smooth + label, _score_rank(ctx, rows, features, decisions), kind="smooth" if smooth else "pwl")


@register("SVMRegressor", domain=ML_DOMAIN, kind="linear|pwl|smooth",
          no_pattern="not written yet: the kernel's piece per support vector")
def svm_regressor(ctx: LeafContext) -> LTA:
    """Σ αᵢ k(x, vᵢ) + b: kernel units per support vector (linear kernel: linear); one-class: the sign, 2 pieces, rank 0"""
    rows, features = _rows(ctx)
    vectors = int(ctx.attr("n_supports") or 0)
    one_class = bool(ctx.attr("one_class"))
    smooth = _kernel(ctx, rows, vectors) + post_transform(ctx, rows, 1)
    units = smooth + groups((rows if one_class else 0, 2))
    rank = 0 if one_class else _score_rank(ctx, rows, features, 1)
    return ctx.lta(units, rank, kind="smooth" if smooth else ("pwl" if one_class else "linear"))


# ----------------------------------------------------------------------------- encoders and plumbing


@register("OneHotEncoder", "LabelEncoder", "CategoryMapper", domain=ML_DOMAIN, kind="structural")
def encode(ctx: LeafContext) -> LTA:
    """categories mapped by equality: from integer or string inputs a source (SPEC §1); of float data piecewise constant (rank 0)"""
    return ctx.lta((), 0)


@register("DictVectorizer", "CastMap", domain=ML_DOMAIN, kind="structural")
def from_map(ctx: LeafContext) -> LTA:
    """a map's values placed in a dense tensor: rank ≤ output size"""
    return ctx.lta((), ctx.out_size())


#: Concatenation, column selection, and the imputer (the identity except at one value).
register("FeatureVectorizer", "ArrayFeatureExtractor", "Imputer", domain=ML_DOMAIN, kind="structural")(moves)


@register("ZipMap", domain=ML_DOMAIN, kind="structural")
def zip_map(ctx: LeafContext) -> LTA:
    """labels each score (a sequence of maps): rank ≤ input size"""
    return ctx.lta((), ctx.data_in_size)


def binarizer_pattern(ctx: PatternContext) -> LeafPattern:
    return sign_pattern(ctx, ctx.leaf.inputs[0], float(ctx.attr("threshold")), "binarizer", off=(0, 1))


@register("Binarizer", domain=ML_DOMAIN, kind="pwl", pattern=binarizer_pattern)
def binarizer(ctx: LeafContext) -> LTA:
    """1 above the threshold, else 0: 2 pieces per element, piecewise constant (rank 0)"""
    return ctx.lta(groups((ctx.out_size(), 2)), 0)
