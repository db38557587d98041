"""ops/recurrent.py: cells unrolled over the sequence, their gate units from SPEC §2's table."""
from __future__ import annotations

from builders import weight
from op_models import one, units


def test_lstm_gates_and_products_per_step():
    # T = 2 steps, batch 1, hidden 3: 6 cells, each 3 sigmoids (9 pieces), 2 tanh (13) and
    # 3 products of two squares (81)
    leaf = one("LSTM", [(2, 1, 5)], (2, 1, 1, 3), [weight("W", 1, 12, 5), weight("R", 1, 12, 3)], hidden_size=3)
    assert units(leaf) == [(18, 9), (12, 13), (36, 81)]


def test_gru_layout_1_reads_batch_first():
    # layout 1: X is [batch 1, T = 4, I]: 4 cells of hidden 2 each step → 8 cells
    leaf = one("GRU", [(1, 4, 5)], (1, 4, 1, 2), [weight("W", 1, 6, 5), weight("R", 1, 6, 2)], opset=14, hidden_size=2, layout=1)
    assert units(leaf) == [(16, 9), (8, 13), (48, 81)]
