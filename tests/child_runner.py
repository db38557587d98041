"""Run onnxlayer commands each in a forked child with time and memory limits, and tell how each ended.

`Runner` (used by tests/test_hostile*.py) starts this file as a worker process that imports
onnxlayer once; every request then costs a fork (milliseconds), not an interpreter start
(seconds). The child runs `onnxlayer.cli.main(argv)` with its stdout and stderr captured,
its address space capped (RLIMIT_AS), its CPU time capped (RLIMIT_CPU: SIGXCPU) and a
wall-clock alarm for what blocks without computing (SIGALRM); the worker replies with the exit
code or the signal that ended it, wall and CPU time, peak RSS and both streams.
Protocol: one JSON request per line on the worker's stdin, one JSON reply per line on its stdout.
"""
from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

HERE = Path(__file__).resolve().parent
#: Bytes of stdout kept in a reply (a JSON report of 40k leaves is tens of MB).
STDOUT_KEPT = 1 << 16


@dataclass(frozen=True)
class Outcome:
    """How one command ended."""

    code: int | None  # exit status, None when a signal ended it
    signal: str | None  # e.g. "SIGSEGV"; SIGXCPU and SIGALRM are the time limits
    wall: float  # seconds
    cpu: float  # user + system seconds
    max_rss: int  # bytes
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()

    def problems(self) -> list[str]:
        """What breaks the command-line contract: exit 0 or 2; an error is one stderr line, and a result
        may add only warnings (one line each: an opaque op type, an approximation); no internal error."""
        found = []
        if self.signal in ("SIGALRM", "SIGXCPU"):
            found.append("timeout")
        elif self.signal:
            found.append(f"killed by {self.signal}")
        elif self.code not in (0, 2):
            found.append(f"exit {self.code}")
        warnings_only = self.code == 0 and all(line.startswith("onnxlayer: warning: ") for line in self.lines)
        if len(self.lines) > 1 and not warnings_only:
            found.append(f"{len(self.lines)} stderr lines")
        if "internal error" in self.stderr or "Traceback" in self.stderr:
            found.append("internal error")
        if "too large or deep" in self.stderr:  # MemoryError/RecursionError: the budget let it through
            found.append("memory")
        return found


class Runner:
    """A worker process that runs commands in forked children; use as a context manager."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=str(HERE.parent))

    def __call__(self, argv: Sequence[str], *, cwd: str | os.PathLike | None = None, timeout: float = 10.0,
                 wall: float | None = None, memory: int = 1 << 30, user: int | None = None) -> Outcome:
        """Run `onnxlayer argv...` in a child: `timeout` seconds of CPU, `wall` seconds of wall clock
        (for a child that blocks; default six times `timeout`: the machine may be busy), `memory`
        bytes of address space beyond what the worker holds; as uid `user` if given (the worker
        must be root)."""
        request = {"argv": [str(a) for a in argv], "cwd": str(cwd) if cwd else None, "timeout": timeout,
                   "wall": wall or 6 * timeout, "memory": memory, "user": user}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the runner worker died")
        return Outcome(**json.loads(reply))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ the worker side


def _mapped_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(request: dict, out: int, err: int) -> None:
    """In the forked child: limits, streams, the command; leaves only through os._exit."""
    code = 70
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        if request["cwd"]:
            os.chdir(request["cwd"])
        resource.setrlimit(resource.RLIMIT_AS, (_mapped_bytes() + request["memory"], resource.RLIM_INFINITY))
        if request["user"] is not None:
            os.setgid(request["user"])
            os.setuid(request["user"])
        cpu = math.ceil(request["timeout"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        signal.setitimer(signal.ITIMER_REAL, request["wall"])
        from onnxlayer.cli import main

        code = main(request["argv"])
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - reported as a traceback on stderr: the test names it
        traceback.print_exc()  # imported by the worker: a child without privileges may not read it
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) else 70)


def _serve(request: dict) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request, out.fileno(), err.fileno())
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return {
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else None,
            "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "max_rss": usage.ru_maxrss * 1024,
            "stdout": out.read(STDOUT_KEPT).decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def main() -> None:
    import onnx.reference  # noqa: F401  (warm: every child starts from these imports)

    # A child that dropped privileges may not read the sources, nor the standard library where
    # Python lives in root's home: what the commands import is imported here.
    import onnxlayer.analysis  # noqa: F401
    import onnxlayer.cli  # noqa: F401
    import onnxlayer.cli.analyze  # noqa: F401
    import onnxlayer.converters  # noqa: F401
    import onnxlayer.present.analysis  # noqa: F401

    for line in sys.stdin:
        sys.stdout.write(json.dumps(_serve(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
