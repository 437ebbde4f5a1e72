"""`chat-gateway serve --workers 2`: one set of metrics whichever worker answers.

The emulators run in this process; the gateway runs as the real CLI in a subprocess
(its own process group, terminated in a `finally`) with a fresh
PROMETHEUS_MULTIPROC_DIR. Every request opens a new connection, so SO_REUSEPORT
spreads them over the workers; every scrape, answered by any worker, must report
the same totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.emulators import FAULTS
from tests.conftest import API_KEY, AUTH, ROOT, ROUTES, SECRET, recorded
from tests.test_metrics import parse, series, unbounded_labels

REQUESTS = 60
ROUTE = {"upstream": "storeden", "operation": "list_chats", "method": "GET", "code": "200"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(env: Mapping[str, str], log: Path, *, workers: int = 1,
                inherit: bool = True) -> AsyncIterator[str]:
    """`python -m gateway serve` on a free loopback port, once every worker listens."""
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(ROUTES),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    banners = log.with_suffix(".stdout")
    with open(log, "wb") as stderr, open(banners, "wb") as stdout:
        process = subprocess.Popen(command, env={**os.environ, **env} if inherit else dict(env),
                                   cwd=ROOT,
                                   stdout=stdout, stderr=stderr, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_listening(process, url, log, banners, workers)
        yield url
    finally:
        _stop(process)


async def _wait_listening(process: subprocess.Popen, url: str, log: Path, banners: Path,
                          workers: int) -> None:
    """Every worker printed its banner (after it started listening) and /healthz answers."""
    deadline = asyncio.get_running_loop().time() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the gateway exited with {process.returncode}:\n"
                            f"{log.read_text()[-3000:]}")
            if banners.read_text().count("listening on") == workers:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            return
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"the gateway did not start in 30 s:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


async def get_fresh(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    """One request on its own connection."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url, headers=headers) as response:
            return response.status, await response.text()


def per_worker(directory: Path) -> dict[str, dict]:
    """Each worker's own samples: its files alone, read by the multiprocess collector."""
    out = {}
    for pid in {p.stem.rsplit("_", 1)[1] for p in directory.glob("*.db")}:
        alone = directory.parent / f"worker-{pid}"
        alone.mkdir()
        for path in directory.glob(f"*_{pid}.db"):
            shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        out[pid] = parse(generate_latest(registry).decode())
    return out


@pytest.fixture
def multiproc_dir(tmp_path):
    path = tmp_path / "multiproc"
    path.mkdir()
    return path


async def test_two_workers_report_one_consistent_set_of_metrics(emulators, multiproc_dir,
                                                                tmp_path):
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "GATEWAY_LOG_LEVEL": "WARNING"}
    async with serve(env, tmp_path / "gateway.log", workers=2) as url:
        for _ in range(REQUESTS):
            status, _ = await get_fresh(f"{url}/v1/storeden/chats", AUTH)
            assert status == 200
        assert len(recorded(emulators, "storeden")) == REQUESTS

        scrapes = []
        for _ in range(8):
            status, text = await get_fresh(f"{url}/metrics")
            assert status == 200
            scrapes.append(parse(text))
        for samples in scrapes:
            assert samples[series("chat_gateway_requests_total", **ROUTE)] == REQUESTS
            assert sum(v for (name, _), v in samples.items()
                       if name == "chat_gateway_requests_total") == REQUESTS
            assert samples[series("chat_gateway_request_duration_seconds_count",
                                  upstream="storeden", operation="list_chats", method="GET",
                                  code_class="2xx")] == REQUESTS
            assert samples[series("chat_gateway_requests_in_flight")] == 0
            # gauges in a live* mode: one series, no pid label, however many workers
            for info in ("chat_gateway_build_info", "chat_gateway_config_info",
                         "chat_gateway_config_last_load_success"):
                assert [v for (name, _), v in samples.items() if name == info] == [1.0]
            assert samples[series("chat_gateway_config_loads_total", result="success")] == 2
            assert unbounded_labels(samples) == set()  # no pid label, among others
            assert not [name for name, _ in samples if name.endswith("_created")]
        assert len({frozenset(s) for s in scrapes}) == 1, "scrapes disagree on the series"
        _, text = await get_fresh(f"{url}/metrics?name[]=chat_gateway_requests_total")
        assert parse(text) == {series("chat_gateway_requests_total", **ROUTE): REQUESTS}

        # SO_REUSEPORT did spread the connections: each worker answered some of them
        workers = per_worker(multiproc_dir)
        assert len(workers) == 2
        answered = [samples.get(series("chat_gateway_requests_total", **ROUTE), 0)
                    for samples in workers.values()]
        assert sum(answered) == REQUESTS and min(answered) > 0, answered


async def test_in_flight_is_summed_over_live_workers(emulators, multiproc_dir, tmp_path):
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "GATEWAY_LOG_LEVEL": "WARNING"}
    in_flight = series("chat_gateway_requests_in_flight")
    async with serve(env, tmp_path / "gateway.log", workers=2) as url:
        emulators.apps["hapihub"][FAULTS].add("delay", delay=1.0, times=2)
        log = recorded(emulators, "hapihub")
        slow = [asyncio.create_task(get_fresh(f"{url}/v1/hapihub/chats", AUTH))
                for _ in range(2)]
        while len(log) < 2:
            await asyncio.sleep(0.01)
        for _ in range(4):
            assert parse((await get_fresh(f"{url}/metrics"))[1])[in_flight] == 2
        assert [status for status, _ in await asyncio.gather(*slow)] == [200, 200]
        for _ in range(4):
            assert parse((await get_fresh(f"{url}/metrics"))[1])[in_flight] == 0


def _json_lines(log: Path) -> list[dict]:
    lines = []
    for text in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(text))
    return lines


async def _until(predicate, log: Path, what: str, timeout: float = 30):
    """Poll the gateway's stderr until `predicate(lines)` is truthy; its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := predicate(_json_lines(log))):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} not seen in {timeout} s:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.1)
    return found


async def test_a_killed_worker_is_replaced_and_the_metrics_stay_whole(emulators, multiproc_dir,
                                                                      tmp_path):
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "GATEWAY_LOG_LEVEL": "INFO"}
    log = tmp_path / "gateway.log"
    async with serve(env, log, workers=2) as url:
        spawned = await _until(lambda lines: [line["pid"] for line in lines
                                              if line["msg"] == "worker started"], log, "workers")
        assert len(spawned) == 2
        for _ in range(20):
            assert (await get_fresh(f"{url}/v1/storeden/chats", AUTH))[0] == 200
        victim = spawned[0]
        os.kill(victim, signal.SIGKILL)

        [exited] = await _until(lambda lines: [line for line in lines if line["msg"] == "worker exited"],
                                log, "the worker's death")
        assert (exited["level"], exited["pid"], exited["signal"], exited["exit_code"]) == (
            "error", victim, "SIGKILL", -signal.SIGKILL)
        [replacement] = await _until(
            lambda lines: [line["pid"] for line in lines if line["msg"] == "started"
                           and line.get("pid") not in spawned], log, "a replacement listening")
        for _ in range(40):
            assert (await get_fresh(f"{url}/v1/storeden/chats", AUTH))[0] == 200

        samples = parse((await get_fresh(f"{url}/metrics"))[1])
        assert samples[series("chat_gateway_requests_total", **ROUTE)] == 60  # none lost
        assert samples[series("chat_gateway_requests_in_flight")] == 0
        assert samples[series("chat_gateway_config_loads_total", result="success")] == 3
        for info in ("chat_gateway_build_info", "chat_gateway_config_info"):
            assert [v for (name, _), v in samples.items() if name == info] == [1.0]
        # live* gauges forget the dead worker (an in-flight request it held would stick)
        assert list(multiproc_dir.glob(f"gauge_live*_{victim}.db")) == []
        assert list(multiproc_dir.glob(f"counter_{victim}.db"))  # what it counted stays
        answered = per_worker(multiproc_dir)
        assert str(replacement) in answered
        assert answered[str(replacement)].get(series("chat_gateway_requests_total", **ROUTE))
    lines = _json_lines(log)
    assert [line["msg"] for line in lines if line["logger"] == "chat_gateway.supervisor"][-2:] == [
        "stopping", "stopped"]
    assert {line["pid"] for line in lines if line["msg"] == "stopped" and "pid" in line} == {
        spawned[1], replacement}


async def test_the_temporary_metrics_directory_is_removed_on_exit(emulators, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "GATEWAY_LOG_LEVEL": "WARNING", "TMPDIR": str(scratch)}
    env_without = {k: v for k, v in {**os.environ, **env}.items()
                   if k != "PROMETHEUS_MULTIPROC_DIR"}
    async with serve(env_without, tmp_path / "gateway.log", workers=2, inherit=False) as url:
        assert (await get_fresh(f"{url}/v1/storeden/chats", AUTH))[0] == 200
        [made] = list(scratch.iterdir())
        assert list(made.glob("*.db"))
    assert list(scratch.iterdir()) == []
