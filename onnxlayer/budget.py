"""One budget for the whole analysis: graph nodes, folded static elements and memory.

A few hundred bytes of ONNX can ask for billions of nodes (nested Loops), elements (a static
`ConstantOfShape`) or bytes. Each limit is checked against an estimate *before* the work it
bounds, so a hostile file costs nothing; exceeding one raises `BudgetError`, which names the
limit and the command-line flag that raises it. `gc_paused` keeps Python's cyclic collector from
spending the analysis's time (and a command's start) walking objects that are not garbage.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import BudgetError, SettingsError

GIB = 1 << 30
#: Bytes one graph node costs through the pipeline (protobuf, view, leaf, walk, result),
#: measured on long unrolled chains (~8 KB/node at 40k nodes); used to estimate memory.
NODE_BYTES = 8 << 10
#: ONNX's shape inference copies the names in scope for every subgraph it enters: a graph
#: holding many subgraphs (Loops left rolled in an unrolled outer Loop) costs their count times
#: its size, held to the node limit squared over this (0.5 s of copies at the default limit).
SUBGRAPH_COPIES_DIVISOR = 50


@dataclass(frozen=True)
class Budget:
    """Limits of one analysis; the defaults cover real models with a wide margin.

    `max_nodes`: nodes of the prepared graph (after inlining functions and unrolling Loop/Scan/If,
    nesting multiplied out), counted before they are made. `max_folded_elements`: elements of
    static tensors that constant folding may compute, in total. `max_memory`: bytes the model's
    data and the graph may take, estimated before reading the file and before unrolling.
    """

    max_nodes: int = 50_000
    max_folded_elements: int = 1 << 24
    max_memory: int = 8 * GIB

    def __post_init__(self) -> None:
        for name in ("max_nodes", "max_folded_elements", "max_memory"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"must be positive, got {value!r}", setting=name)

    def check_nodes(self, count: int, what: str) -> None:
        """Refuse `count` graph nodes past the node limit, or past the memory they would take;
        `what` says where they come from ("the model holds", "unrolling Loop node 'l' makes")."""
        if count > self.max_nodes:
            raise BudgetError(f"{what} {count:,} graph nodes, more than the limit of {self.max_nodes:,}", limit="max_nodes")
        self.check_memory(count * NODE_BYTES, f"{what} {count:,} graph nodes")

    def check_subgraphs(self, holders: int, nodes: int, what: str) -> None:
        """Refuse a graph of `nodes` nodes of which `holders` hold subgraphs when ONNX's shape
        inference would copy more names than `max_nodes² / SUBGRAPH_COPIES_DIVISOR`; `what` says
        where they are ("the model holds", "unrolling Loop node 'l' leaves")."""
        limit = self.max_nodes ** 2 // SUBGRAPH_COPIES_DIVISOR
        if holders * nodes > limit:
            raise BudgetError(f"{what} {holders:,} nodes holding subgraphs (Loops or Scans left rolled) in a graph of "
                              f"{nodes:,} nodes: ONNX's shape inference copies the graph's names into each, "
                              f"{holders * nodes:,} copies, more than the limit of {limit:,} (the node limit squared "
                              f"over {SUBGRAPH_COPIES_DIVISOR})", limit="max_nodes")

    def check_memory(self, need: int, what: str) -> None:
        """Refuse work estimated to need `need` bytes beyond `max_memory`."""
        if need > self.max_memory:
            raise BudgetError(f"{what}: about {_gib(need)} of memory, more than the limit of {_gib(self.max_memory)}",
                              limit="max_memory")


class FoldBudget:
    """What constant folding may still compute in one preparation (shared by its views)."""

    def __init__(self, budget: Budget) -> None:
        self.limit = budget.max_folded_elements
        self.used = 0

    def charge(self, elements: int, what: str) -> None:
        """Count `elements` about to be computed for `what`; refuse them past the limit."""
        if self.used + elements > self.limit:
            raise BudgetError(f"constant folding of {what} would bring the folded elements to {self.used + elements:,}, "
                              f"more than the limit of {self.limit:,}", limit="max_folded_elements")
        self.used += elements


def _gib(count: int) -> str:
    return f"{count / GIB:.3g} GB"


@contextmanager
def gc_paused() -> Iterator[None]:
    """The analysis builds many small acyclic objects, and importing its modules many classes and
    functions: Python's cyclic collector would rescan the growing heap over and over (superlinear
    on 100k-node graphs; 5-7 ms of a command's 0.16 s start). Pause it, then restore."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
