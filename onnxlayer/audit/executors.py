"""Where the analyses run: local worker processes, or a Dask cluster. Both take tasks and
hand back outcomes as they finish; the coordinator alone writes the store.

Inside a Dask task the isolation is the same as locally: the task drives a worker process
(`worker.WorkerProcess`, one per Dask worker thread) that forks one child per model.
"""
from __future__ import annotations

import os
import queue
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Iterable, Protocol

from ..errors import SettingsError
from .tasks import CRASH, Outcome, Task
from .worker import WorkerProcess



class Executor(Protocol):
    """Runs tasks; `wait_any` returns the finished handles among those given."""

    #: How many tasks to keep submitted at once (enough to keep every worker busy).
    capacity: int

    def submit(self, task: Task) -> Any: ...

    def wait_any(self, handles: Iterable[Any], timeout: float | None = None) -> set[Any]: ...

    def outcome(self, handle: Any, task: Task) -> Outcome: ...

    def close(self) -> None: ...


class LocalExecutor:
    """`jobs` worker processes on this machine, each driven by a coordinator thread."""

    def __init__(self, jobs: int) -> None:
        self.capacity = 2 * jobs
        self._idle: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        self._workers = [WorkerProcess() for _ in range(jobs)]
        for w in self._workers:
            self._idle.put(w)
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="onnxlayer-audit")

    def submit(self, task: Task) -> Future:
        return self._pool.submit(self._run, task)

    def _run(self, task: Task) -> Outcome:
        worker = self._idle.get()
        try:
            return worker.run(task)
        finally:
            self._idle.put(worker)

    def wait_any(self, handles: Iterable[Future], timeout: float | None = None) -> set[Future]:
        done, _ = wait(list(handles), timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    def outcome(self, handle: Future, task: Task) -> Outcome:
        return handle.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for w in self._workers:
            w.close()


class DaskExecutor:
    """Analyses as Dask tasks, on the cluster at `scheduler` or on a LocalCluster of `jobs`
    single-threaded worker processes. Model files travel with the task (scattered to the
    worker), so the cluster needs no shared filesystem; SavedModel directories are read at
    their path and need one."""

    def __init__(self, jobs: int, scheduler: str | None = None) -> None:
        distributed = _require_distributed()
        self._distributed = distributed
        self._cluster = None
        try:
            if scheduler:
                self._client = distributed.Client(scheduler, timeout="30s")
            else:
                self._cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                         dashboard_address=None)
                self._client = distributed.Client(self._cluster)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise SettingsError(f"cannot reach the Dask scheduler {scheduler or '(local cluster)'}: {exc}") from None
        threads = sum(self._client.nthreads().values()) or 1
        self.capacity = 2 * threads

    def submit(self, task: Task) -> Any:
        path = Path(task.path)
        payload = self._client.scatter(path.read_bytes(), hash=False) if path.is_file() else None
        return self._client.submit(run_on_worker, task.to_dict(), payload, path.name, pure=False)

    def wait_any(self, handles: Iterable[Any], timeout: float | None = None) -> set[Any]:
        try:
            done, _ = self._distributed.wait(list(handles), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    def outcome(self, handle: Any, task: Task) -> Outcome:
        try:
            return Outcome.from_dict(handle.result())
        except Exception as exc:  # the Dask worker itself died (KilledWorker) or the task was lost
            return Outcome.failure(task.key, f"{CRASH}: dask task failed: {type(exc).__name__}: {exc}".splitlines()[0],
                                   transient=True)
        finally:
            handle.release()

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise SettingsError(f"--executor dask needs the 'distributed' package ({exc}); "
                            'install the extra: pip install "onnxlayer[dask]"') from None
    return distributed


# ------------------------------------------------------------------------- on a Dask worker

_local = threading.local()


def run_on_worker(task_data: dict[str, Any], payload: bytes | None, filename: str) -> dict[str, Any]:
    """A Dask task: write the scattered model bytes to a private temporary file (keeping the
    file name, so format detection sees the same suffix) and analyse it in this thread's
    worker process, under the task's limits."""
    task = Task.from_dict(task_data)
    worker = getattr(_local, "worker", None)
    if worker is None:
        worker = _local.worker = WorkerProcess()
    if payload is None:
        return worker.run(task).to_dict()
    with tempfile.TemporaryDirectory(prefix="onnxlayer-audit-") as tmp:
        local = os.path.join(tmp, filename)
        with open(local, "wb") as f:
            f.write(payload)
        return worker.run(Task(task.key, local, task.label, task.settings, task.limits)).to_dict()


def make_executor(kind: str, jobs: int, scheduler: str | None = None) -> Executor:
    """The executor named by `--executor` (`audit` has checked the name against EXECUTORS)."""
    return DaskExecutor(jobs, scheduler) if kind == "dask" else LocalExecutor(jobs)
