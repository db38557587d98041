"""Fit once (onnxlayer.fitcache): where the disk cache lives, how it is disabled, that a count
is read back instead of fitted again, and that concurrent processes share it safely."""
from __future__ import annotations

import math
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from onnxlayer import fitcache
from onnxlayer.transfer import ScalarFunction, function_pieces
from spec_chords import spec_pieces


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache directory and an empty memory memo."""
    monkeypatch.setenv("ONNXLAYER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ONNXLAYER_NO_CACHE", raising=False)
    fitcache._memory.clear()
    fitcache._touched.clear()
    yield tmp_path / "cache"
    fitcache._memory.clear()
    fitcache._touched.clear()


def entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    for name in ("ONNXLAYER_CACHE_DIR", "ONNXLAYER_NO_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert fitcache.cache_dir() == tmp_path / ".cache" / "onnxlayer"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fitcache.cache_dir() == tmp_path / "xdg" / "onnxlayer"
    monkeypatch.setenv("ONNXLAYER_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert fitcache.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv("ONNXLAYER_CACHE_DIR", "")
    assert fitcache.cache_dir() is None
    monkeypatch.setenv("ONNXLAYER_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("ONNXLAYER_NO_CACHE", "1")
    assert fitcache.cache_dir() is None


def test_a_count_is_read_back_not_fitted_again(cache):
    calls = []

    def fit() -> int:
        calls.append(1)
        return 7

    key = ("test", "read back", 0.01, 8.0)
    assert fitcache.remembered(key, fit) == 7
    assert len(entries(cache)) == 1
    fitcache._memory.clear()  # as a new process would start
    assert fitcache.remembered(key, fit) == 7
    assert calls == [1]
    assert fitcache.remembered(("test", "another key", 0.01, 8.0), fit) == 7
    assert calls == [1, 1] and len(entries(cache)) == 2


def _aged(path: Path, days: float) -> Path:
    """`path`, made (a folder holding one entry) and last modified `days` ago."""
    path.mkdir(parents=True)
    (path / "entry.txt").write_text("key\n3")
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


def test_a_new_generation_deletes_the_stale_ones(cache):
    """Entries live in a folder per version and code fingerprint; the process that makes a new one
    deletes the folders of older cache formats and the generations unused for STALE_DAYS (7)."""
    generations = cache / f"fits-{fitcache.CACHE_FORMAT}"
    older_format = _aged(cache / "fits-1" / "0.0.1-0123456789abcdef", 0)
    stale = _aged(generations / "0.0.1-aaaaaaaaaaaaaaaa", 8)
    recent = _aged(generations / "0.0.1-bbbbbbbbbbbbbbbb", 6)
    newer_format = _aged(cache / f"fits-{fitcache.CACHE_FORMAT + 1}" / "9.9.9-cccccccccccccccc", 30)
    assert fitcache.remembered(("test", "generations"), lambda: 5) == 5
    current = generations / f"{fitcache.__version__}-{fitcache.code_fingerprint()}"
    assert {p.parent for p in entries(cache)} == {newer_format, current, recent}
    assert not older_format.parent.exists() and not stale.exists()


def test_a_generation_in_use_is_kept(cache):
    """A generation only read from (every count already on disk) is touched once per process, so
    another version starting a generation does not take it for stale."""
    assert fitcache.remembered(("test", "in use"), lambda: 5) == 5
    current = entries(cache)[0].parent
    then = time.time() - 30 * 86400
    os.utime(current, (then, then))
    fitcache._memory.clear()
    fitcache._touched.clear()  # as a new process would start
    assert fitcache.remembered(("test", "in use"), lambda: 6) == 5  # read back
    assert current.stat().st_mtime > time.time() - 3600


def test_a_fit_without_pieces_is_remembered_too(cache):
    calls = []
    fit = lambda: calls.append(1)  # noqa: E731  (returns None: not finite on the grid)
    for _ in range(2):
        fitcache._memory.clear()
        assert fitcache.remembered(("test", "none"), fit) is None
    assert calls == [1]


@pytest.mark.parametrize("value", [1 / 3, math.pi * 2**60, 5e-324, 0.0, 123456.789, float("inf")])
def test_a_float_is_read_back_as_the_same_double(cache, value):
    key = ("test", "float", repr(value))
    assert fitcache.remembered(key, lambda: value) == value
    fitcache._memory.clear()
    back = fitcache.remembered(key, lambda: pytest.fail("computed again"))
    assert type(back) is float and back == value and math.copysign(1, back) == math.copysign(1, value)


def test_long_region_sums_are_kept_and_short_ones_are_not(cache, monkeypatch):
    """A region bound summing thousands of binomial terms goes to disk, read back as the
    exact double; a short sum or the closed form p^u is cheaper to compute than to read."""
    from onnxlayer import algebra
    from onnxlayer.bounds import region_bits

    algebra._region_bits.cache_clear()
    long_sum = (100_000, 2, 4096)  # Σ_{j≤4096} C(100000, j): > 10 ms of big-integer terms
    expected = math.log2(sum(math.comb(100_000, j) for j in range(4097)))
    assert algebra._region_bits(*long_sum) == pytest.approx(expected, rel=1e-12)
    assert algebra._region_bits(50, 2, 100) == 50.0 and algebra._region_bits(300, 2, 100) == region_bits(300, 2, 100)
    assert len(entries(cache)) == 1
    fitcache._memory.clear()  # as a new process would start
    algebra._region_bits.cache_clear()
    monkeypatch.setattr(algebra, "region_bits", lambda *args: pytest.fail(f"summed again: {args}"))
    assert algebra._region_bits(*long_sum) == region_bits(*long_sum)
    algebra._region_bits.cache_clear()


def test_function_pieces_go_to_disk_with_their_settings(cache):
    """Each (function, parameters, ε, B) is its own entry, holding SPEC §2's count."""
    cubic = ScalarFunction("test cubic", lambda x, a: a * x**3)
    assert function_pieces(cubic, (0.02,), 0.01, 8.0) == spec_pieces(lambda x: 0.02 * x**3, -8, 8, 0.01)
    assert function_pieces(cubic, (0.02,), 0.01, 4.0) == spec_pieces(lambda x: 0.02 * x**3, -4, 4, 0.01)
    assert function_pieces(cubic, (0.05,), 0.001, 8.0) == spec_pieces(lambda x: 0.05 * x**3, -8, 8, 0.001)
    assert len(entries(cache)) == 3
    assert all("test cubic" in p.read_text() for p in entries(cache))


def test_damaged_entries_are_fitted_again(cache):
    key = ("test", "damaged")
    fitcache.remembered(key, lambda: 5)
    (path,) = entries(cache)
    for damage in ("", "garbage", path.read_text().rpartition("\n")[0] + "\nnot a number", "\x00\xff"):
        path.write_text(damage, encoding="utf-8", errors="surrogateescape")
        fitcache._memory.clear()
        assert fitcache.remembered(key, lambda: 5) == 5
    fitcache._memory.clear()
    assert fitcache.remembered(key, lambda: 6) == 5  # repaired by the last fit


def test_an_unusable_cache_directory_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ONNXLAYER_CACHE_DIR", str(blocker / "cache"))
    fitcache._memory.clear()
    assert fitcache.remembered(("test", "unusable"), lambda: 3) == 3


def _fit_in_child(directory: str, key: tuple, count: int, rounds: int, queue) -> None:
    os.environ["ONNXLAYER_CACHE_DIR"] = directory
    seen = []
    for _ in range(rounds):
        fitcache._memory.clear()
        seen.append(fitcache.remembered(key, lambda: count))
    queue.put(seen)


def test_concurrent_processes_share_the_cache_safely(cache):
    """Eight processes fitting the same keys at once: every read is a whole entry."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    keys = [("test", "concurrent", k) for k in range(4)]
    children = [context.Process(target=_fit_in_child, args=(str(cache), keys[k % 4], 100 + k % 4, 40, queue))
                for k in range(8)]
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert all(len(set(r)) == 1 for r in results)  # each child read its key's count every time
    assert sorted(r[0] for r in results) == sorted(100 + k % 4 for k in range(8))
    assert len(entries(cache)) == 4  # no temporary file left behind
    assert all(p.suffix == ".txt" for p in entries(cache))


def test_cli_no_cache_and_the_environment_leave_no_entry(tmp_path):
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["t"]), helper.make_node("Sigmoid", ["x"], ["s"])], "smooth",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(y, onnx.TensorProto.FLOAT, [1, 4]) for y in "ts"]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "smooth.onnx"
    onnx.save(model, path)
    env = {**os.environ, "ONNXLAYER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("ONNXLAYER_NO_CACHE", None)
    command = [sys.executable, "-m", "onnxlayer", "analyze", str(path)]
    run = subprocess.run(command + ["--no-cache"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "cache").exists()
    run = subprocess.run(command, env={**env, "ONNXLAYER_NO_CACHE": "1"}, capture_output=True, text=True)
    assert run.returncode == 0 and not (tmp_path / "cache").exists()
    run = subprocess.run(command, env={**env, "ONNXLAYER_CACHE_DIR": ""}, capture_output=True, text=True)
    assert run.returncode == 0 and not (tmp_path / "cache").exists()
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    assert run.returncode == 0 and len(entries(tmp_path / "cache")) == 2  # tanh and sigmoid


def swish_blocks(widths: list[int], betas: list[float]) -> onnx.ModelProto:
    """Gemm → x·σ(βx) per block (the Swish of EfficientNet), one block per width."""
    nodes, inits, x, prev = [], [], "x", widths[0]
    for k, (width, beta) in enumerate(zip(widths, betas)):
        inits.append(helper.make_tensor(f"w{k}", onnx.TensorProto.FLOAT, [prev, width], [0.1] * (prev * width)))
        inits.append(helper.make_tensor(f"beta{k}", onnx.TensorProto.FLOAT, [], [beta]))
        nodes += [helper.make_node("Gemm", [x, f"w{k}"], [f"h{k}"]),
                  helper.make_node("Mul", [f"h{k}", f"beta{k}"], [f"bh{k}"]),
                  helper.make_node("Sigmoid", [f"bh{k}"], [f"s{k}"]),
                  helper.make_node("Mul", [f"h{k}", f"s{k}"], [f"y{k}"])]
        x, prev = f"y{k}", width
    graph = helper.make_graph(nodes, "swish", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, widths[0]])],
                              [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [1, prev])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_equal_fused_chains_are_fitted_once(cache):
    """Four Swish blocks of different widths and names, two values of β: two fits on disk, and
    each block holds SPEC §2's count of its own function."""
    import onnxlayer

    result = onnxlayer.analyze(swish_blocks([8, 16, 4, 32], [1.0, 1.0, 2.0, 1.0]))
    fused = [leaf for leaf in result.leaves if leaf.op_type == "FusedUnary"]
    silu = spec_pieces(lambda x: x / (1 + np.exp(-x)), -8, 8, 0.01)
    swish2 = spec_pieces(lambda x: x / (1 + np.exp(-2 * x)), -8, 8, 0.01)
    assert [leaf.groups[0].pieces for leaf in fused] == [silu, silu, swish2, silu]
    assert len(entries(cache)) == 2
