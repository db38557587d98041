"""Isolation: each model is analysed in a child process forked by a long-lived worker process
(`python -m onnxlayer.audit.worker`), under a wall-time limit and an address-space limit
(`RLIMIT_AS`), so a model that hangs, eats memory, crashes or is malformed ends one child,
never the audit.

Why a worker that forks: a fresh interpreter per model costs ~0.5 s of imports while most
analyses take ~0.05 s; forking a single-threaded process that has onnxlayer imported costs
milliseconds. The worker is started with `subprocess`, so it also runs inside Dask's worker
processes (which are daemonic and may not use `multiprocessing`). The protocol is one JSON
line per task on the worker's stdin and one JSON line per outcome on its stdout.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .tasks import BAD_INPUT, CRASH, MEMORY, TIMEOUT, Outcome, Task

#: Written by a child whose memory ran out: prepared before any analysis can exhaust it.
_MEMORY_FAILURE = {"status": "failed", "reason": MEMORY}
#: Extra seconds the coordinator waits for a worker beyond the task's own timeout.
GRACE = 30.0
#: Numerical libraries run one thread per analysis: the workers are the parallelism.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ----------------------------------------------------------------------- the worker process


def main() -> None:
    """Serve tasks from stdin until it closes: fork, limit, analyse, report."""
    from .. import api  # noqa: F401  (imported once here, inherited by every child)

    stdin = sys.stdin.buffer.raw
    stdout = sys.stdout.buffer
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = os.read(stdin.fileno(), 1 << 16)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        task = Task.from_dict(json.loads(line))
        outcome = run_forked(task, stdin.fileno())
        stdout.write(json.dumps(outcome.to_dict()).encode() + b"\n")
        stdout.flush()


def run_forked(task: Task, parent_fd: int | None = None) -> Outcome:
    """Analyse `task` in a forked child under its limits; the child's end is the outcome."""
    start = time.monotonic()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(task, write_end)
    os.close(write_end)
    deadline = None if task.limits.timeout is None else start + task.limits.timeout
    data, timed_out = _read_until(read_end, deadline, parent_fd)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if timed_out:
        return Outcome.failure(task.key, TIMEOUT, seconds)
    try:
        message = json.loads(data)
    except ValueError:
        return Outcome.failure(task.key, f"{CRASH}: {_exit_text(status)}", seconds)
    return Outcome(task.key, message["status"], message.get("reason", ""), message.get("result"), seconds)


def _read_until(fd: int, deadline: float | None, parent_fd: int | None) -> tuple[bytes, bool]:
    """Everything the child writes, or (partial, True) at the deadline. A readable parent pipe
    here means the coordinator is gone (it sends nothing while it waits): stop at once."""
    chunks = []
    watched = [fd] if parent_fd is None else [fd, parent_fd]
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select(watched, [], [], wait)
        if not ready:
            return b"".join(chunks), True
        if parent_fd in ready and fd not in ready:
            return b"", True
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _child(task: Task, fd: int) -> None:
    """Apply the limits, analyse, write one JSON message, exit without cleanup."""
    memory_message = json.dumps(_MEMORY_FAILURE).encode()
    code = 0
    try:
        _die_with_parent()
        os.setsid()  # own process group: a terminal's Ctrl-C goes to the coordinator only
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if task.limits.max_memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (task.limits.max_memory, task.limits.max_memory))
        try:
            message = json.dumps(_analyse(task)).encode()
        except MemoryError:
            message = memory_message
        _write_all(fd, message)
    except MemoryError:
        _write_all(fd, memory_message)
    except BaseException:  # noqa: BLE001  (any other end is reported as a crash by the parent)
        code = 70
    finally:
        os._exit(code)


def _analyse(task: Task) -> dict[str, Any]:
    from ..errors import OnnxLayerError, OutOfMemoryError

    try:
        if task.check is not None:
            from .checks import run_check

            return {"status": "ok", "result": run_check(task)}
        from ..api import analyze

        result = analyze(task.path, _shapes_for(task), tolerance=task.settings.tolerance,
                         domain=task.settings.domain, path=task.label)
    except OutOfMemoryError:  # the analysis's MemoryError under this worker's address-space limit
        raise MemoryError from None
    except OnnxLayerError as exc:
        # name the model as the report does, not by the worker's copy (a Dask worker's temporary file)
        return {"status": "failed", "reason": f"{BAD_INPUT}: {exc}".replace(task.path, task.label)}
    except RecursionError:
        return {"status": "failed", "reason": f"{BAD_INPUT}: the graph is too deep to analyse (RecursionError)"}
    except MemoryError:
        raise
    except Exception as exc:  # a bug in onnxlayer or a converter: the analysis crashed
        text = str(exc).splitlines()[0] if str(exc) else ""
        return {"status": "failed", "reason": f"{CRASH}: {type(exc).__name__}: {text}".rstrip(": ")}
    return {"status": "ok", "result": result.to_json(indent=None)}


def _shapes_for(task: Task) -> dict[str, tuple[int, ...]]:
    """The input shapes naming inputs of this model: one --input-shape serves a registry of
    models of which only some have that input (as `onnxlayer check` reads a policy's shapes)."""
    shapes = dict(task.settings.input_shapes)
    if not shapes:
        return shapes
    from ..api import to_onnx_source
    from ..loading import load_model

    inputs = {i.name for i in load_model(to_onnx_source(task.path)[0]).graph.input}
    return {name: shape for name, shape in shapes.items() if name in inputs}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the worker that forked it dies (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit status {os.WEXITSTATUS(status)}"


# -------------------------------------------------------------------------- the client side


class WorkerProcess:
    """The coordinator's (or a Dask task's) handle on one worker process; one task at a time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def run(self, task: Task) -> Outcome:
        """Analyse `task` in the worker, restarting it if it died."""
        with self._lock:
            process = self._started()
            try:
                process.stdin.write(json.dumps(task.to_dict()).encode() + b"\n")
                process.stdin.flush()
                limit = None if task.limits.timeout is None else task.limits.timeout + GRACE
                line = _read_line(process.stdout.fileno(), limit)
            except (BrokenPipeError, OSError):
                line = None
            if line is None:  # the worker itself died or hung: replace it
                self.close()
                return Outcome.failure(task.key, f"{CRASH}: the worker process died", transient=True)
            return Outcome.from_dict(json.loads(line))

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ)
            for name, value in SINGLE_THREADED.items():
                env.setdefault(name, value)
            quiet = not os.environ.get("ONNXLAYER_DEBUG")
            self._process = subprocess.Popen(
                [sys.executable, "-m", "onnxlayer.audit.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if quiet else None, env=env, close_fds=True)
        return self._process

    def close(self) -> None:
        """Stop the worker (closing its stdin ends it; a hung one is killed)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def _read_line(fd: int, timeout: float | None) -> bytes | None:
    """One line from `fd`, or None on end of file or timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks = []
    while True:
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


if __name__ == "__main__":
    main()
