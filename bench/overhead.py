"""Gateway overhead, as ratios against a baseline measured in the same run.

Starts the vendor emulators in one process and `chat-gateway serve` in another, then
drives the same upstream work two ways from this process with the same concurrency:
directly against the emulator (baseline) and through the gateway (translation, mapping,
cursor signing, metrics). Prints latency and throughput ratios, and the gateway's memory
growth over the run (RSS after / RSS after warm-up). No timed assertions: numbers only.

    python bench/overhead.py [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-api-key-0123456789"
EMULATORS = """
import asyncio, json, sys
from gateway.emulators import start_emulators
async def main():
    running = await start_emulators()
    print(json.dumps(running.env()), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
CASES = {  # name: (gateway path, direct path relative to the upstream base, upstream)
    "storeden list_messages limit=30": ("/v1/storeden/chats/49077/messages?limit=30",
                                        "/messages/chat.json?with_id=49077", "STOREDEN"),
    "superoffice list_messages (XML)": ("/v1/superoffice/chats/341/messages?limit=20",
                                        "/ChatSession/341/Messages", "SUPEROFFICE"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def drive(url: str, headers: dict[str, str], requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    queue = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": requests / elapsed, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99) - 1]}


def upstream_headers(env: dict[str, str], prefix: str) -> dict[str, str]:
    if prefix == "STOREDEN":
        return {"key": env["STOREDEN_KEY"], "exchange": env["STOREDEN_EXCHANGE"]}
    return {"Authorization": env["SUPEROFFICE_AUTH"], "Accept": "application/xml"}


async def run(args: argparse.Namespace) -> None:
    emulators = subprocess.Popen([sys.executable, "-c", EMULATORS], stdout=subprocess.PIPE,
                                 cwd=ROOT, text=True)
    env = json.loads(emulators.stdout.readline())
    port = free_port()
    gateway_env = {**os.environ, **env, "GATEWAY_API_KEYS": KEY, "GATEWAY_LOG_LEVEL": "WARNING",
                   "GATEWAY_CURSOR_SECRET": "bench-cursor-secret-0123456789"}
    gateway = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config",
                                str(ROOT / "routes.yaml"), "--port", str(port)],
                               env=gateway_env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                async with aiohttp.ClientSession() as s, s.get(base + "/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        auth = {"Authorization": f"Bearer {KEY}"}
        print(f"{args.requests} requests per measurement, concurrency {args.concurrency}, "
              f"{os.cpu_count()} cores\n")
        print(f"{'case':34} {'direct rps':>10} {'gw rps':>8} {'rps ratio':>9} "
              f"{'p50 ratio':>9} {'p99 ratio':>9}")
        for name, (path, direct, prefix) in CASES.items():
            direct_url = env[f"{prefix}_BASE_URL"] + direct
            await drive(base + path, auth, 200, args.concurrency)  # warm-up
            await drive(direct_url, upstream_headers(env, prefix), 200, args.concurrency)
            baseline = await drive(direct_url, upstream_headers(env, prefix), args.requests,
                                   args.concurrency)
            through = await drive(base + path, auth, args.requests, args.concurrency)
            print(f"{name:34} {baseline['rps']:10.0f} {through['rps']:8.0f} "
                  f"{through['rps'] / baseline['rps']:9.2f} "
                  f"{through['p50'] / baseline['p50']:9.2f} {through['p99'] / baseline['p99']:9.2f}")
        warm = rss_kib(gateway.pid)
        await drive(base + CASES["storeden list_messages limit=30"][0], auth, args.requests * 2,
                    args.concurrency)
        print(f"\ngateway RSS after warm-up {warm / 1024:.1f} MiB, after "
              f"{args.requests * 2} more requests {rss_kib(gateway.pid) / 1024:.1f} MiB "
              f"(ratio {rss_kib(gateway.pid) / warm:.3f})")
    finally:
        for proc in (gateway, emulators):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
