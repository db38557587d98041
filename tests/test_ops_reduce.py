"""ops/reduce.py: reductions, arg-extrema and TopK (SPEC §2: a max over K elements has K pieces)."""
from __future__ import annotations

from op_models import one, units


def test_reductions():
    leaf = one("ReduceMax", [(1, 4, 6)], (1, 4, 1), axes=[2], keepdims=1)
    assert units(leaf) == [(4, 6)]
    leaf = one("ReduceMean", [(1, 4, 6)], (1, 4, 1), axes=[2], keepdims=1)
    assert leaf.kind == "linear" and leaf.rank_cap == 4


def test_reduce_sum_square_is_a_square_per_element():
    leaf = one("ReduceSumSquare", [(1, 4, 6)], (1, 4, 1), axes=[2], keepdims=1)
    assert units(leaf) == [(24, 81)]  # SPEC table: x²
