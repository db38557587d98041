"""`onnxlayer audit` over directories and manifests: isolation (corrupt, slow and oversized
models recorded with their reasons), the resumable store (SIGKILL mid-run, then rerun), the
reports and exit codes. Expected numbers come from SPEC §3 formulas evaluated here.

The builders below are shared with test_audit_mlflow.py and test_audit_dask.py.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

pytestmark = pytest.mark.audit


# ------------------------------------------------------------------------------ builders


def region_bits(units: int, pieces: int, dim: int) -> float:
    """SPEC §3: c(u, p, d) = log2 Σ_{j ≤ min(d, u)} C(u, j)(p − 1)^j."""
    return math.log2(sum(math.comb(units, j) * (pieces - 1) ** j for j in range(min(dim, units) + 1)))


def mlp(hidden: int, activation: str = "Relu", seed: int = 0, inputs: int = 4, outputs: int = 3) -> onnx.ModelProto:
    """[1, inputs] → Gemm inputs×hidden → activation → Gemm hidden×outputs, random weights."""
    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return helper.make_tensor(name, TensorProto.FLOAT, shape, rng.standard_normal(shape).astype(np.float32).ravel())

    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1"),
             helper.make_node(activation, ["h"], ["a"], name="act"),
             helper.make_node("Gemm", ["a", "W2", "b2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])],
                              [weight("W1", inputs, hidden), weight("b1", hidden), weight("W2", hidden, outputs),
                               weight("b2", outputs)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlp_params(hidden: int, inputs: int = 4, outputs: int = 3) -> int:
    return inputs * hidden + hidden + hidden * outputs + outputs


def chain(pairs: int, width: int = 8) -> onnx.ModelProto:
    """`pairs` × (MatMul width×width → Relu): a deep graph whose analysis takes time ∝ pairs."""
    nodes, x = [], "x"
    for i in range(pairs):
        nodes += [helper.make_node("MatMul", [x, "W"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
        x = f"r{i}"
    w = helper.make_tensor("W", TensorProto.FLOAT, [width, width], np.eye(width, dtype=np.float32).ravel())
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, width])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload_length: int) -> bytes:
    """The tag and length of a length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(payload_length)


def write_oversized(path: Path, payload_bytes: int) -> None:
    """A valid ONNX file with one initializer of `payload_bytes` zero bytes, written sparse (the
    zeros cost no disk and no time): reading it needs more memory than a small --max-memory."""
    graph = helper.make_graph([helper.make_node("Gather", ["W", "i"], ["y"])], "big",
                              [helper.make_tensor_value_info("i", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    header = helper.make_model(helper.make_graph([], "", [], []), opset_imports=[helper.make_opsetid("", 17)])
    header.ClearField("graph")
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[payload_bytes // 4]).SerializeToString()
    # GraphProto.initializer = 5, TensorProto.raw_data = 9, ModelProto.graph = 7
    initializer = tensor + _field(9, payload_bytes)
    init_length = len(initializer) + payload_bytes
    graph_bytes = graph.SerializeToString() + _field(5, init_length) + initializer
    graph_length = len(graph_bytes) + payload_bytes
    prefix = header.SerializeToString() + _field(7, graph_length) + graph_bytes
    with open(path, "wb") as f:
        f.write(prefix)
        f.truncate(len(prefix) + payload_bytes)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`onnxlayer audit ARGS` in this process (its workers are still processes of their own):
    the exit code, stdout and stderr."""
    from onnxlayer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["audit", *args])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def counts_line(stderr: str) -> str:
    """The final 'N cached, M analysed, K failed' line the CLI prints."""
    return [line for line in stderr.splitlines() if line.startswith("onnxlayer audit:")][-1]


def entry_rows(report: dict) -> list[tuple]:
    """What must agree between two audits of the same models: identity, status, numbers."""
    return [(e["name"], e["version"], e["status"], e["reason"], e["sha256"], json.dumps(e["summary"], sort_keys=True),
             json.dumps(e["change"], sort_keys=True)) for e in report["entries"]]


# ------------------------------------------------------------------------------ tests


def test_directory_failures_are_recorded_and_the_rest_analysed(tmp_path: Path) -> None:
    """A corrupt file, a model past --timeout 2 and one past --max-memory each get their reason;
    the two good models are analysed with the numbers of SPEC §3; exit 1."""
    models = tmp_path / "models"
    (models / "nested").mkdir(parents=True)
    onnx.save(mlp(8), models / "small.onnx")
    onnx.save(mlp(16, seed=1), models / "nested" / "wide.onnx")
    (models / "corrupt.onnx").write_bytes(b"\x08\x07 this is not a protobuf \xff\xff\xff")
    onnx.save(chain(20000), models / "slow.onnx")  # ~6 s of analysis on this machine
    write_oversized(models / "huge.onnx", 1_200_000_000)
    (models / "README.md").write_text("not a model")

    out = run_cli(str(models), "--store", str(tmp_path / "a.db"), "--jobs", "2", "--timeout", "2",
                  "--max-memory", "1", "--format", "json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    by_name = {e["name"]: e for e in report["entries"]}
    assert sorted(by_name) == ["corrupt.onnx", "huge.onnx", "nested/wide.onnx", "slow.onnx", "small.onnx"]
    assert by_name["corrupt.onnx"]["status"] == "failed"
    assert by_name["corrupt.onnx"]["reason"].startswith("bad-input: ")
    assert "\n" not in by_name["corrupt.onnx"]["reason"]
    assert (by_name["slow.onnx"]["status"], by_name["slow.onnx"]["reason"]) == ("failed", "timeout")
    assert (by_name["huge.onnx"]["status"], by_name["huge.onnx"]["reason"]) == ("failed", "memory")
    for name, hidden in (("small.onnx", 8), ("nested/wide.onnx", 16)):
        e = by_name[name]
        assert e["status"] == "ok"
        # D0 = 4 ≤ hidden: one Relu group of `hidden` units of 2 pieces in 4 dimensions
        assert e["summary"]["complexity_bits"] == pytest.approx(region_bits(hidden, 2, 4), rel=1e-12)
        assert e["summary"]["params"] == mlp_params(hidden)
        assert e["summary"]["intrinsic_power"] == pytest.approx(math.log2(3 / 4), rel=1e-12)
    assert report["counts"] == {"cached": 0, "analysed": 2, "failed": 3, "skipped": 0}
    assert counts_line(out.stderr) == "onnxlayer audit: 0 cached, 2 analysed, 3 failed"

    # rerun under the same limits: nothing is analysed again, the failures are remembered
    again = run_cli(str(models), "--store", str(tmp_path / "a.db"), "--timeout", "2", "--max-memory", "1",
                    "--format", "json")
    assert again.returncode == 1
    assert counts_line(again.stderr) == "onnxlayer audit: 2 cached, 0 analysed, 3 failed"
    assert entry_rows(json.loads(again.stdout)) == entry_rows(report)


def test_a_crashed_analysis_is_recorded_and_the_audit_goes_on(tmp_path: Path) -> None:
    """The child analysing a slow model dies of SIGSEGV (sent here, as a native crash would end
    it): the entry is `crash: killed by SIGSEGV`, the other model is analysed, exit 1."""
    import threading

    import psutil

    onnx.save(chain(20000), tmp_path / "slow.onnx")
    onnx.save(mlp(8), tmp_path / "small.onnx")
    result: list[subprocess.CompletedProcess] = []
    thread = threading.Thread(target=lambda: result.append(run_cli(
        str(tmp_path), "--store", str(tmp_path / "s.db"), "--jobs", "1", "--format", "json", "--quiet")))
    thread.start()
    deadline = time.monotonic() + 60
    killed = False
    while not killed and time.monotonic() < deadline:
        workers = [p for p in psutil.Process().children() if "onnxlayer.audit.worker" in " ".join(p.cmdline())]
        for worker in workers:  # their children are the analyses
            for child in worker.children():
                os.kill(child.pid, signal.SIGSEGV)
                killed = True
                break
        time.sleep(0.05)
    thread.join(120)
    assert killed and result, "no analysis child to kill, or the audit did not end"
    out = result[0]
    assert out.returncode == 1, out.stdout + out.stderr
    by_name = {e["name"]: e for e in json.loads(out.stdout)["entries"]}
    assert (by_name["slow.onnx"]["status"], by_name["slow.onnx"]["reason"]) == ("failed", "crash: killed by SIGSEGV")
    assert by_name["small.onnx"]["status"] == "ok"


def test_sigkill_mid_run_then_rerun_keeps_every_finished_result(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    count = 24
    for i in range(count):
        onnx.save(chain(400 + 10 * i), models / f"chain{i:02d}.onnx")  # distinct bytes, ~0.1–0.2 s each

    clean = run_cli(str(models), "--store", str(tmp_path / "clean.db"), "--jobs", "2", "--format", "json", "--quiet")
    assert clean.returncode == 0, clean.stderr

    store = tmp_path / "killed.db"
    process = subprocess.Popen([sys.executable, "-m", "onnxlayer", "audit", str(models), "--store", str(store),
                                "--jobs", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TMPDIR": str(tmp_path)})  # what a kill leaves stays here
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _stored_contents(store) < 5:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = _content_rows(store)
    assert 5 <= len(before) < count, "the kill must land mid-run"

    rerun = run_cli(str(models), "--store", str(store), "--jobs", "2", "--format", "json", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert counts_line(rerun.stderr) == f"onnxlayer audit: {len(before)} cached, {count - len(before)} analysed, 0 failed"
    after = _content_rows(store)
    assert {k: after[k] for k in before} == before  # finished results kept as they were, not redone
    assert len(after) == count == _stored_count(store, "entries")  # no duplicates
    assert after.keys() == _content_rows(tmp_path / "clean.db").keys()
    assert entry_rows(json.loads(rerun.stdout)) == entry_rows(json.loads(clean.stdout))


def _stored_contents(store: Path) -> int:
    try:
        return _stored_count(store, "contents")
    except sqlite3.Error:  # not created yet
        return 0


def _stored_count(store: Path, table: str) -> int:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _content_rows(store: Path) -> dict[str, tuple]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return {key: (status, analysed_at) for key, status, analysed_at in
                db.execute("SELECT key, status, analysed_at FROM contents")}


def test_manifest_versions_shapes_and_reports(tmp_path: Path) -> None:
    """A CSV manifest with names, versions and per-entry input shapes: versions are compared,
    identical bytes under two names are analysed once, and every report format renders."""
    (tmp_path / "m").mkdir()
    onnx.save(mlp(8, seed=1), tmp_path / "m" / "a1.onnx")
    onnx.save(mlp(8, seed=2), tmp_path / "m" / "a2.onnx")  # retrained: same architecture
    onnx.save(mlp(16, seed=3), tmp_path / "m" / "a3.onnx")  # widened
    dynamic = mlp(8, seed=4)
    dynamic.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "features"
    onnx.save(dynamic, tmp_path / "m" / "dyn.onnx")
    manifest = tmp_path / "models.csv"
    manifest.write_text("path,name,version,input_shapes\n"
                        "m/a1.onnx,alpha,1,\nm/a2.onnx,alpha,2,\nm/a3.onnx,alpha,10,\n"
                        "m/dyn.onnx,dynamic,,x=1x4\nm/a1.onnx,alpha-copy,,\n")
    out = run_cli(str(manifest), "--store", str(tmp_path / "s.db"), "--format", "json", "--quiet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    entries = {(e["name"], e["version"]): e for e in report["entries"]}
    assert entries[("alpha", "1")]["change"] is None
    assert entries[("alpha", "2")]["change"]["verdict"] == "no architectural change"
    assert entries[("alpha", "2")]["change"]["previous"] == "1"
    widened = entries[("alpha", "10")]["change"]  # natural order: 10 comes after 2
    assert widened["previous"] == "2" and widened["architectural_change"]
    assert widened["deltas"]["params"] == mlp_params(16) - mlp_params(8)
    assert widened["deltas"]["complexity_bits"] == pytest.approx(region_bits(16, 2, 4) - region_bits(8, 2, 4))
    assert entries[("dynamic", "")]["summary"]["complexity_bits"] == pytest.approx(region_bits(8, 2, 4))
    assert entries[("alpha-copy", "")]["sha256"] == entries[("alpha", "1")]["sha256"]
    assert report["counts"]["analysed"] == 5
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT COUNT(*) FROM contents").fetchone()[0] == 4  # a1.onnx once

    for fmt in ("table", "csv", "junit"):
        text = run_cli(str(manifest), "--store", str(tmp_path / "s.db"), "--format", fmt, "--quiet").stdout
        if fmt == "table":
            assert "no architectural change (vs v1)" in text and "ΔW +64" in text
            assert text.rstrip().endswith("5 cached, 0 analysed, 0 failed")
        elif fmt == "csv":
            assert text.splitlines()[0].startswith("source,name,version,location,status")
            assert len(text.splitlines()) == 6
        else:
            suite = ET.fromstring(text)
            assert suite.tag == "testsuite" and suite.get("tests") == "5" and suite.get("failures") == "0"
            assert [c.get("name") for c in suite] == ["alpha v1", "alpha v2", "alpha v10", "dynamic", "alpha-copy"]


def test_policy_checks_each_version_against_the_previous_one(tmp_path: Path) -> None:
    """--policy: the rules of `onnxlayer check`, the change rules against the previous version;
    exit 1 when an error rule fails, and a rerun neither analyses nor checks again."""
    (tmp_path / "m").mkdir()
    onnx.save(mlp(8, seed=1), tmp_path / "m" / "v1.onnx")
    onnx.save(mlp(8, seed=2), tmp_path / "m" / "v2.onnx")   # same architecture
    onnx.save(mlp(16, seed=3), tmp_path / "m" / "v3.onnx")  # W doubles: past the budget and the 10% growth
    manifest = tmp_path / "models.jsonl"
    manifest.write_text("".join(json.dumps({"path": f"m/v{v}.onnx", "name": "net", "version": str(v)}) + "\n"
                                for v in (1, 2, 3)))
    policy = tmp_path / "policy.toml"
    policy.write_text(f"""version = 1
[[limit]]
name = "parameter budget"
metric = "params"
max = {mlp_params(8)}
[[change]]
name = "params growth"
metric = "params"
max_increase = "10%"
[[same_architecture]]
name = "same architecture"
severity = "warning"
""")
    args = [str(manifest), "--store", str(tmp_path / "s.db"), "--policy", str(policy)]
    out = run_cli(*args, "--format", "json", "--quiet")
    assert out.returncode == 1, out.stderr
    checks = {e["version"]: e["check"] for e in json.loads(out.stdout)["entries"]}
    rules = {v: {r["name"]: r["status"] for r in c["rules"]} for v, c in checks.items()}
    assert checks["1"]["status"] == "pass" and checks["1"]["baseline"] is None
    assert rules["1"] == {"parameter budget": "pass", "params growth": "skip", "same architecture": "skip"}
    assert checks["2"]["status"] == "pass" and checks["2"]["baseline"] == "net v1"
    assert rules["2"] == {"parameter budget": "pass", "params growth": "pass", "same architecture": "pass"}
    assert checks["3"]["status"] == "fail" and checks["3"]["baseline"] == "net v2"
    assert rules["3"] == {"parameter budget": "fail", "params growth": "fail", "same architecture": "warn"}
    growth = next(r for r in checks["3"]["rules"] if r["name"] == "params growth")
    assert f"{mlp_params(8)} → {mlp_params(16)}" in growth["measured"].replace(",", "")

    again = run_cli(*args)  # the table, with progress lines: nothing analysed or checked again
    assert again.returncode == 1
    assert counts_line(again.stderr) == "onnxlayer audit: 3 cached, 0 analysed, 0 failed"
    assert "net v3: FAIL parameter budget" in again.stdout
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == 3


def test_a_global_input_shape_applies_to_the_models_with_that_input(tmp_path: Path) -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["tokens"], ["y"])], "relu",
                              [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, "seq"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "seq.onnx")
    onnx.save(mlp(8), tmp_path / "mlp.onnx")  # its input x has no symbolic dim and is not named
    out = run_cli(str(tmp_path), "--store", str(tmp_path / "s.db"), "--input-shape", "tokens=1x6", "--format",
                  "json", "--quiet")
    assert out.returncode == 0, out.stdout
    bits = {e["name"]: e["summary"]["complexity_bits"] for e in json.loads(out.stdout)["entries"]}
    assert bits == {"mlp.onnx": pytest.approx(region_bits(8, 2, 4)), "seq.onnx": pytest.approx(6.0)}  # 6 ReLUs, d = 6


def test_junit_marks_failures(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"")
    onnx.save(mlp(8), tmp_path / "good.onnx")
    out = run_cli(str(tmp_path), "--store", str(tmp_path / "s.db"), "--format", "junit", "--quiet")
    assert out.returncode == 1
    cases = {c.get("name"): c for c in ET.fromstring(out.stdout)}
    assert cases["bad.onnx"].find("failure").get("type") == "bad-input"
    assert cases["good.onnx"].find("failure") is None


@pytest.mark.parametrize("args, message", [
    (["nowhere"], "nowhere: no such file or directory"),
    (["{models}", "--jobs", "0"], "--jobs 0"),
    (["{models}", "--timeout", "-1"], "expected a positive number"),
    (["{models}", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
    (["models:/anything"], "--registry-uri"),
    (["{manifest}"], "unknown manifest field(s) colour"),
    (["{models}", "--store", "{models}/no/such/dir/s.db"], "cannot open the audit store"),
    (["{models}", "--store", "{manifest}"], "not an onnxlayer audit store"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "list.csv").write_text("path,colour\nx.onnx,red\n")
    (tmp_path / "x.onnx").write_bytes(b"")
    args = [a.format(models=tmp_path / "models", manifest=tmp_path / "list.csv") for a in args]
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    store = [] if "--store" in args else ["--store", str(tmp_path / "s.db")]
    out = run_cli(*args, *store)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_python_api_and_dataframe(tmp_path: Path) -> None:
    import onnxlayer
    from onnxlayer.audit import DEFAULT_STORE, AuditResult, audit

    onnx.save(mlp(8), tmp_path / "a.onnx")
    result = audit([tmp_path / "a.onnx"], store=tmp_path / "s.db", jobs=1)
    assert isinstance(result, AuditResult) and result.exit_code == 0
    frame = result.to_dataframe()
    assert list(frame["name"]) == ["a.onnx"]
    assert frame["complexity_bits"][0] == pytest.approx(region_bits(8, 2, 4))
    assert DEFAULT_STORE == "onnxlayer-audit.db" and onnxlayer.audit is audit


def test_progress_bar_on_a_terminal_and_lines_otherwise(tmp_path: Path) -> None:
    """On a terminal: a bar with the rate (models/s) and the ETA; in a log: a line per entry."""
    import fcntl
    import pty
    import struct
    import termios

    for i in range(3):
        onnx.save(mlp(4 + i), tmp_path / f"m{i}.onnx")
    args = [sys.executable, "-m", "onnxlayer", "audit", str(tmp_path), "--store", str(tmp_path / "s.db")]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 1 << 16)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=120) == 0
    os.close(primary)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert re.search(r"\| [0-3]/3 \[\d\d:\d\d<[\d:?]+, *[\d.?]+model/s\]", terminal), terminal  # count, ETA, rate
    logged = run_cli(str(tmp_path), "--store", str(tmp_path / "s.db")).stderr.splitlines()
    assert logged[:3] == [f"audit: [{k}/3] m{k - 1}.onnx: ok (cached)" for k in (1, 2, 3)]
