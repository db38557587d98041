"""`onnxlayer audit --executor dask` against a scheduler and two worker processes started by
the test on localhost gives the same rows as a local `--jobs 2` audit."""
from __future__ import annotations

import json
from pathlib import Path

import distributed
import onnx
import pytest

from test_audit import chain, entry_rows, mlp, run_cli, write_oversized

pytestmark = pytest.mark.audit


def test_dask_cluster_gives_the_same_rows_as_local_workers(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    for i, hidden in enumerate((4, 8, 16, 32)):
        onnx.save(mlp(hidden, seed=i), models / f"mlp{hidden}.onnx")
    onnx.save(mlp(8, "Tanh", seed=9), models / "sub" / "tanh.onnx")
    onnx.save(chain(50), models / "sub" / "chain.onnx")
    (models / "sub" / "corrupt.onnx").write_bytes(b"\x08\x07\x12\x03abc\xff")
    write_oversized(models / "huge.onnx", 200_000_000)

    limits = ["--max-memory", "0.25", "--timeout", "60"]
    local = run_cli(str(models), "--store", str(tmp_path / "local.db"), "--jobs", "2", "--format", "json", "--quiet",
                    *limits)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  local_directory=str(tmp_path / "dask")) as cluster:
        remote = run_cli(str(models), "--store", str(tmp_path / "dask.db"), "--executor", "dask", "--scheduler",
                         cluster.scheduler_address, "--format", "json", "--quiet", *limits)
    assert local.returncode == remote.returncode == 1, remote.stderr  # the corrupt and the oversized file
    rows = entry_rows(json.loads(local.stdout))
    assert rows == entry_rows(json.loads(remote.stdout))
    statuses = {row[0]: (row[2], row[3].split(":")[0]) for row in rows}
    assert statuses["sub/corrupt.onnx"] == ("failed", "bad-input")
    assert statuses["huge.onnx"] == ("failed", "memory")
    assert sum(1 for status, _ in statuses.values() if status == "ok") == 6
