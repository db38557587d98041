"""ops/normalization.py: normalised groups of 1/√x units and softmax's max + exp units (SPEC §2)."""
from __future__ import annotations

from builders import weight
from op_models import one, units


def test_softmax_units_and_rank():
    leaf = one("Softmax", [(1, 3, 5)], (1, 3, 5), axis=-1)
    # G = 3 vectors of n = 5: a max of 5 pieces each, 15 exps on [-8, 0] (SPEC table: 8); κ = G·(n−1)
    assert units(leaf) == [(3, 5), (15, 8)] and leaf.rank_cap == 3 * 4


def test_softmax_before_opset_13_flattens_from_axis():
    leaf = one("Softmax", [(1, 3, 5)], (1, 3, 5), opset=11, axis=1)
    assert units(leaf) == [(1, 15), (15, 8)] and leaf.rank_cap == 14


def test_layernorm_and_groupnorm():
    leaf = one("LayerNormalization", [(1, 4, 10)], (1, 4, 10), [weight("s", 10), weight("b", 10)], axis=-1)
    assert units(leaf) == [(4, 14)] and leaf.rank_cap == 40 - 8  # SPEC table: 1/√x 14; κ = size − 2G
    leaf = one("GroupNormalization", [(1, 6, 4, 4)], (1, 6, 4, 4), [weight("s", 6), weight("b", 6)], opset=21, num_groups=3)
    assert units(leaf) == [(3, 14)] and leaf.rank_cap == 96 - 6


def test_batch_norm_statistics_not_counted():
    inits = [weight("s", 3), weight("b", 3), weight("m", 3), weight("v", 3)]
    leaf = one("BatchNormalization", [(1, 3, 2, 2)], (1, 3, 2, 2), inits)
    assert leaf.params == 6 and leaf.kind == "linear"


def test_lp_normalization_l2_is_a_normalization_per_vector():
    """x/‖x‖₂ over rows of 6: G = 2 units of 1/√x (14 pieces, SPEC §2), rank ≤ 12 − 2 (scale removed)."""
    leaf = one("LpNormalization", [(2, 6)], (2, 6), opset=22)
    assert leaf.kind == "normalization" and units(leaf) == [(2, 14)] and leaf.rank_cap == 10


def test_lp_normalization_l1_adds_the_signs():
    """x/Σ|x|: an |x| unit (2 pieces) per element, a 1/x unit (25 pieces) per vector; axis 0 here."""
    leaf = one("LpNormalization", [(3, 4)], (3, 4), opset=22, p=1, axis=0)
    assert units(leaf) == [(12, 2), (4, 25)] and leaf.rank_cap == 8
