"""`serve --workers N`: N worker processes on one port, kept at N until told to stop.

Each worker is `python -m gateway`'s own serving loop in a spawned process, listening
with SO_REUSEPORT. The supervisor only watches them:

- a worker that exits while the gateway is not stopping is logged (`worker exited`,
  with its exit code or signal) and replaced (`worker started`); its metrics files stay
  (counters keep what it counted) and `mark_process_dead` makes the `live*` gauges
  forget it. A worker that dies within a second of starting is replaced after a pause
  that doubles up to `_MAX_PAUSE`, so a crash loop does not spin.
- SIGHUP is passed on to every worker (each reloads its config); SIGTERM and SIGINT are
  passed on too, then the supervisor waits up to `stop_timeout` seconds for the workers
  to drain and exit, and kills the rest.
- The metrics directory: a `PROMETHEUS_MULTIPROC_DIR` given by the operator is emptied of
  old files at start and kept; otherwise a temporary one is made and removed on exit.

Why not gunicorn's aiohttp worker: it would add a dependency and its own configuration
surface, its SIGHUP restarts workers instead of the in-process reload the gateway does
(which the config metrics and the readiness story rely on), and the prometheus
multiprocess hooks would have to be wired through its server hooks anyway; what is
needed here is the ~100 lines below.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

__all__ = ["Supervisor", "supervise", "multiprocess_directory"]

log = logging.getLogger("chat_gateway.supervisor")
_QUICK_DEATH = 1.0  # seconds: a worker dying sooner than this is crash-looping
_MAX_PAUSE = 5.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def multiprocess_directory() -> tuple[str, bool]:
    """The directory workers share metrics through, and whether it is ours to remove.

    Files left by an earlier run would be read as live, so a given directory is emptied
    of them; an unset one is made (and set in the environment the workers inherit)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        path = tempfile.mkdtemp(prefix="chat-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        return path, True
    Path(given).mkdir(parents=True, exist_ok=True)
    for stale in Path(given).glob("*.db"):
        stale.unlink()
    return given, False


class Supervisor:
    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], workers: int, *,
                 metrics_dir: str, stop_timeout: float) -> None:
        self._target, self._args, self._size = target, args, workers
        self._metrics_dir = metrics_dir
        self._stop_timeout = stop_timeout
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, tuple[BaseProcess, float]] = {}  # pid -> process, start
        self._pause = 0.0
        self._received: list[int] = []

    def run(self) -> int:
        """Start the workers, keep them at N until SIGTERM/SIGINT; the exit status."""
        wake_read, wake_write = socket.socketpair()
        wake_write.setblocking(False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        old_fd = signal.set_wakeup_fd(wake_write.fileno())
        try:
            for _ in range(self._size):
                self._start()
            log.info("supervisor started", extra={"workers": self._size, "pid": os.getpid()})
            stopping = self._watch(wake_read)
            return self._stop(stopping)
        finally:
            signal.set_wakeup_fd(old_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            wake_read.close()
            wake_write.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._received.append(signum)

    def _start(self) -> None:
        process = self._context.Process(target=self._target, args=self._args)
        process.start()
        assert process.pid is not None
        self._workers[process.pid] = (process, time.monotonic())
        log.info("worker started", extra={"pid": process.pid})

    def _watch(self, wake: socket.socket) -> int:
        """Replace dead workers and pass SIGHUP on, until a stop signal: that signal."""
        while True:
            sentinels = {process.sentinel: pid for pid, (process, _) in self._workers.items()}
            ready = wait([*sentinels, wake])
            if wake in ready:
                wake.recv(64)
            while self._received:
                signum = self._received.pop(0)
                if signum != signal.SIGHUP:
                    return signum
                log.info("reload requested", extra={"workers": sorted(self._workers)})
                self._signal_all(signal.SIGHUP)
            for sentinel in ready:
                if sentinel in sentinels:
                    self._replace(sentinels[sentinel])

    def _replace(self, pid: int) -> None:
        process, started = self._workers.pop(pid)
        process.join()
        self._forget(pid)
        code = process.exitcode
        lived = time.monotonic() - started
        log.error("worker exited", extra={
            "pid": pid, "exit_code": code, "lived_seconds": round(lived, 3),
            "signal": signal.Signals(-code).name if code is not None and code < 0 else None})
        self._pause = min(_MAX_PAUSE, max(0.25, self._pause * 2)) if lived < _QUICK_DEATH else 0.0
        if self._pause:
            time.sleep(self._pause)
        self._start()

    def _forget(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self._metrics_dir)

    def _signal_all(self, signum: int) -> None:
        for pid in self._workers:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _stop(self, signum: int) -> int:
        log.info("stopping", extra={"signal": signal.Signals(signum).name,
                                    "workers": sorted(self._workers)})
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for process, _ in self._workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker did not stop in time; killing it",
                            extra={"pid": process.pid})
                process.kill()
                process.join()
        for pid in self._workers:
            self._forget(pid)
        status = max((abs(p.exitcode or 0) for p, _ in self._workers.values()), default=0)
        log.info("stopped", extra={"exit_status": status})
        return status


def supervise(target: Callable[..., None], args: tuple[Any, ...], workers: int, *,
              stop_timeout: float) -> int:
    """Run `workers` copies of `target(*args)` until stopped; the exit status."""
    path, ours = multiprocess_directory()
    try:
        return Supervisor(target, args, workers, metrics_dir=path,
                          stop_timeout=stop_timeout).run()
    finally:
        if ours:
            shutil.rmtree(path, ignore_errors=True)
