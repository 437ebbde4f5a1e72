"""The gateway against hand-written proxies, all fronting one nginx static upstream.

    python bench/run.py [--label before] [--sittings 2] [--seconds 8]
    python bench/run.py --profile json        # py-spy on the gateway during one case
    python bench/run.py --scaling             # --workers 2 against one worker

Uses Debian's nginx and wrk (installed with apt-get when missing) and Node. nginx serves
the captured vendor answers in `bench/fixtures/` (see `bench/cases.yaml`); the gateway
(`bench/routes.yaml`: the shipped mappings, upstreams on nginx), a naive aiohttp proxy
(`bench/peers/naive_aiohttp.py`) and a plain Node `http` proxy (`bench/peers/node_peer.js`)
translate the same page. nginx and wrk run on CPU 0, the system under test on CPU 1;
everything is on loopback. A *sitting* drives every system in turn (warm-up, c=16, c=1);
figures are compared only within a sitting. CPU per request is the proxy processes'
utime+stime delta (/proc/<pid>/stat) over the requests wrk completed. Load average and
CPU steal are recorded per sitting; a sitting whose peer ratio (naive / Node CPU per
request) moved more than --tolerance from the previous one is judged noisy and another
is run (up to --max-sittings). Output goes to the terminal and `bench/results/`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOAD_CPU, SUT_CPU = "0", "1"
TICK = os.sysconf("SC_CLK_TCK")
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50),
    latency:percentile(99), latency.mean))
end
"""
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {tmp}/fixtures;
{locations}
  }}
}}
"""


@dataclass
class Run:
    """One wrk run against one system: wrk's figures and the system's CPU time."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None  # per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class System:
    name: str
    url: str
    proc: subprocess.Popen | None  # None: nginx itself (the direct baseline)
    headers: dict[str, str] = field(default_factory=dict)


# --- tools -------------------------------------------------------------------------

def ensure_tools(profile: bool) -> None:
    missing = [pkg for tool, pkg in (("nginx", "nginx-light"), ("wrk", "wrk"))
               if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        *missing], check=True, env=env)
    if shutil.which("node") is None:
        raise SystemExit("node is needed for the Node peer (apt-get install nodejs)")
    if profile and shutil.which("py-spy", path=_venv_path()) is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)


def _venv_path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes and /proc -----------------------------------------------------------

def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv]


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from `state` on


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_times() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_ready(url: str, headers: dict[str, str], proc: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer 200 within 60 s")


# --- the bench ---------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, out: Callable[[str], None]) -> None:
        self.args, self.out = args, out
        self.spec = yaml.safe_load((BENCH / "cases.yaml").read_text())
        self.cases: dict[str, dict] = self.spec["cases"]
        self.key = self.spec["api_key"]
        self.tmp = Path(tempfile.mkdtemp(prefix="chat-gateway-bench-"))
        self.tmp.chmod(0o755)  # nginx's worker runs as an unprivileged user
        self.procs: list[subprocess.Popen] = []
        (self.tmp / "wrk.lua").write_text(WRK_SCRIPT)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def start_nginx(self) -> str:
        port = free_port()
        fixtures = self.tmp / "fixtures"
        fixtures.mkdir()
        upstream = f"http://127.0.0.1:{port}"
        for path in (BENCH / "fixtures").iterdir():
            (fixtures / path.name).write_text(path.read_text().replace("{{UPSTREAM}}", upstream))
        locations = []
        for case in self.cases.values():
            prefix = f"/{case['upstream']}{case['base_path']}"
            for item in case["serve"]:
                locations.append(f"    location = {prefix}{item['location']} {{ default_type "
                                 f"{item['type']}; try_files /{item['file']} =404; }}")
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=port, locations="\n".join(locations)))
        self.nginx = self.spawn(pinned(LOAD_CPU, [nginx_binary(), "-c", str(conf), "-p", str(self.tmp)]),
                                stderr=subprocess.DEVNULL)
        return upstream

    def start_gateway(self, upstream: str, workers: int, cpu: str | None = SUT_CPU,
                      root: Path = ROOT) -> tuple[subprocess.Popen, int]:
        """`root`: the checkout whose `gateway` package runs (cwd comes first on sys.path)."""
        port = free_port()
        env = {**os.environ, "BENCH_UPSTREAM": upstream, "GATEWAY_PORT": str(port),
               "GATEWAY_API_KEYS": self.key, "GATEWAY_CURSOR_SECRET": self.spec["cursor_secret"],
               "PYTHONPATH": str(root)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        routes = self.tmp / f"routes-{port}.yaml"  # the mappings of the checkout that runs
        routes.write_text((BENCH / "routes.yaml").read_text().replace("../mappings/",
                                                                      f"{Path(root).resolve()}/mappings/"))
        argv = [self.args.python, "-m", "gateway", "serve", "--config", str(routes),
                "--workers", str(workers)]
        log = open(self.tmp / f"gateway-{port}.log", "wb")
        proc = subprocess.Popen(pinned(cpu, argv) if cpu else argv, cwd=root, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(proc)
        return proc, port

    def start_systems(self) -> dict[str, System]:
        upstream = self.start_nginx()
        auth = {"Authorization": f"Bearer {self.key}"}
        peer_case = next(c for c in self.cases.values() if c.get("peers"))
        peer_upstream = f"{upstream}/{peer_case['upstream']}{peer_case['base_path']}"
        gateway, gw_port = self.start_gateway(upstream, self.args.workers,
                                              root=self.args.gateway_root)
        naive_port, node_port = free_port(), free_port()
        naive = self.spawn(pinned(SUT_CPU, [self.args.python, str(BENCH / "peers" / "naive_aiohttp.py"),
                                            "--port", str(naive_port), "--upstream-root", upstream,
                                            "--key", self.key, "--json", self.args.peer_json]))
        node = self.spawn(pinned(SUT_CPU, ["node", str(BENCH / "peers" / "node_peer.js"),
                                           "--port", str(node_port), "--upstream", peer_upstream,
                                           "--key", self.key]))
        path = peer_case["gateway_path"]
        first = next(iter(peer_case["serve"]))
        systems = {
            "node": System("node peer (JSON)", f"http://127.0.0.1:{node_port}{path}", node, auth),
            "naive": System("naive aiohttp (JSON)", f"http://127.0.0.1:{naive_port}{path}", naive, auth),
        }
        gateways = [("gw", gateway, gw_port)]
        if self.args.baseline_root:
            base, base_port = self.start_gateway(upstream, self.args.workers,
                                                 root=self.args.baseline_root)
            gateways.append(("base", base, base_port))
        for name, case in self.cases.items():
            if self.args.cases and name not in self.args.cases:
                continue
            if case is not peer_case:  # the naive proxy's twin of this case: its floor
                systems[f"naive-{name}"] = System(f"naive aiohttp ({name})", f"http://127.0.0.1:"
                                                  f"{naive_port}{case['gateway_path']}", naive, auth)
            for prefix, proc, port in gateways:
                systems[f"{prefix}-{name}"] = System(f"{prefix} {name}", f"http://127.0.0.1:{port}"
                                                     f"{case['gateway_path']}", proc, auth)
        systems["direct"] = System("nginx direct (JSON)", f"{peer_upstream}{first['location']}",
                                   None)
        for system in systems.values():
            wait_ready(system.url, system.headers, system.proc)
        self.gateway = gateway
        return systems

    def save_raw(self, sittings: list[Sitting]) -> None:
        raw = [{key: {conc: {**vars(run), "rps": run.rps} for conc, run in runs.items()}
                for key, runs in sitting.items()} for sitting in sittings]
        self.raw_path.write_text(json.dumps(raw, indent=1) + "\n")

    def wrk(self, system: System, connections: int, seconds: float) -> Run:
        pids = process_tree(system.proc.pid) if system.proc else []
        argv = pinned(LOAD_CPU, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                                 "-s", str(self.tmp / "wrk.lua")])
        for name, value in system.headers.items():
            argv += ["-H", f"{name}: {value}"]
        before = cpu_seconds(pids)
        done = subprocess.run([*argv, system.url], capture_output=True, text=True, check=True)
        used = cpu_seconds(pids) - before
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        if stats["non2xx"] or stats["socket_errors"]:
            raise SystemExit(f"{system.name}: {stats['non2xx']} non-2xx answers, "
                             f"{stats['socket_errors']} socket errors\n{done.stdout}")
        requests = stats["requests"]
        return Run(requests, stats["duration_us"] / 1e6, stats["p50_us"] / 1000,
                   stats["p99_us"] / 1000, used * 1e6 / requests if pids and requests else None)

    def sitting(self, systems: dict[str, System], number: int) -> dict[str, dict[str, Run]]:
        args = self.args
        load_before, times_before = load_average(), cpu_times()
        runs: dict[str, dict[str, Run]] = {}
        for key, system in systems.items():
            self.wrk(system, 16, args.warmup)
            runs[key] = {"c16": self.wrk(system, 16, args.seconds),
                         "c1": self.wrk(system, 1, args.c1_seconds)}
        delta = [b - a for a, b in zip(times_before, cpu_times(), strict=True)]
        steal = 100 * delta[7] / max(1, sum(delta[:8]))
        self.out(f"\n## sitting {number}: load average {load_before} → {load_average()}, "
                 f"steal {steal:.1f}%")
        self.out(table(figures(runs)))
        return runs


# --- reporting ---------------------------------------------------------------------

FIGURES = (("req/s c16", lambda r: r["c16"].rps, "{:.0f}"),
           ("p50 c16 ms", lambda r: r["c16"].p50_ms, "{:.2f}"),
           ("p99 c16 ms", lambda r: r["c16"].p99_ms, "{:.2f}"),
           ("p50 c1 ms", lambda r: r["c1"].p50_ms, "{:.3f}"),
           ("p99 c1 ms", lambda r: r["c1"].p99_ms, "{:.3f}"),
           ("CPU µs/req", lambda r: r["c16"].cpu_us, "{:.0f}"))
RATIOS = ("CPU ×node", "CPU ×naive", "CPU ×twin", "req/s ×node", "req/s ×naive",
          "added c1 ×node", "added c1 ×naive")

Sitting = dict[str, dict[str, Run]]


def added_c1(runs: Sitting, key: str) -> float:
    """Latency the system adds at c=1: its p50 less nginx's own (the direct baseline)."""
    return runs[key]["c1"].p50_ms - runs["direct"]["c1"].p50_ms


def figures(runs: Sitting) -> dict[str, dict[str, float | None]]:
    """Every figure of a sitting, ratios to the peers taken within that sitting."""
    out: dict[str, dict[str, float | None]] = {}
    for key, run in runs.items():
        row: dict[str, float | None] = {name: get(run) for name, get, _ in FIGURES}
        if key != "direct":
            added = row["added p50 c1 ms"] = added_c1(runs, key)
            for peer in ("node", "naive"):
                row[f"CPU ×{peer}"] = run["c16"].cpu_us / runs[peer]["c16"].cpu_us
                row[f"req/s ×{peer}"] = run["c16"].rps / runs[peer]["c16"].rps
                row[f"added c1 ×{peer}"] = added / added_c1(runs, peer)
            twin = twin_of(key, runs)
            if twin is not None:
                row["CPU ×twin"] = run["c16"].cpu_us / runs[twin]["c16"].cpu_us
        out[key] = row
    return out


def twin_of(key: str, runs: Sitting) -> str | None:
    """The naive proxy's run of the same case as `key` (gw-xml → naive-xml; the peers'
    own case runs as `naive`), if the sitting has one."""
    prefix, _, case = key.partition("-")
    if prefix not in ("gw", "base"):
        return None
    twin = "naive" if case == peer_case_name() else f"naive-{case}"
    return twin if twin in runs else None


@functools.cache
def peer_case_name() -> str:
    """The case the Node and naive peers' own rows (`node`, `naive`) run."""
    cases = yaml.safe_load((BENCH / "cases.yaml").read_text())["cases"]
    return next(name for name, case in cases.items() if case.get("peers"))


def median_figures(sittings: list[Sitting]) -> dict[str, dict[str, float | None]]:
    """Per figure, the median over sittings (of within-sitting ratios, for ratios)."""
    each = [figures(s) for s in sittings]
    return {key: {name: (None if each[0][key].get(name) is None else
                         statistics.median(f[key][name] for f in each))
                  for name in each[0][key]} for key in each[0]}


def table(rows: dict[str, dict[str, float | None]]) -> str:
    head = ["system", *(name for name, _, _ in FIGURES), "added p50 c1 ms", *RATIOS]
    formats = {name: fmt for name, _, fmt in FIGURES}
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, row in rows.items():
        cells = [key]
        for name in head[1:]:
            value = row.get(name)
            cells.append("–" if value is None else formats.get(name, "{:.2f}").format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: dict[str, dict[str, float | None]]) -> str:
    def ratio(key: str, name: str, base: str) -> float | None:
        return rows[key][name] / rows[base][name] if key in rows and base in rows else None

    checks = [
        ("JSON page CPU/req ≤ 1.2× naive aiohttp", rows.get("gw-json", {}).get("CPU ×naive"), 1.2),
        ("XML page CPU/req ≤ 1.5× JSON page", ratio("gw-xml", "CPU ×node", "gw-json"), 1.5),
        ("3-call walk CPU/req ≤ 2× JSON page", ratio("gw-walk", "CPU ×node", "gw-json"), 2.0),
        ("added p50 latency c=1 ≤ 1.5× Node peer's",
         rows.get("gw-json", {}).get("added c1 ×node"), 1.5),
    ]
    checks = [check for check in checks if check[1] is not None]
    lines = [f"- {name}: {value:.2f} — {'met' if value <= limit else 'NOT met'}"
             for name, value, limit in checks]
    floors = [(case, ratio(f"naive-{case}", "CPU ×node", "naive"), limit)
              for case, limit in (("xml", 1.5), ("walk", 2.0))]
    lines += [f"- floor: the naive aiohttp proxy's own {case}/JSON CPU is {value:.2f} "
              f"(the gateway's target is ≤ {limit})" for case, value, limit in floors
              if value is not None]
    return "\n".join(lines)


def peer_ratio(runs: dict[str, dict[str, Run]]) -> float:
    return runs["naive"]["c16"].cpu_us / runs["node"]["c16"].cpu_us


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    return (f"{os.cpu_count()} CPUs, {model}, Linux {os.uname().release}, "
            f"Python {sys.version.split()[0]}, "
            f"{subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()} node, "
            f"{subprocess.run([nginx_binary(), '-v'], capture_output=True, text=True).stderr.strip()}")


# --- modes -------------------------------------------------------------------------

def compare(bench: Bench) -> None:
    args = bench.args
    systems = bench.start_systems()
    gateway_pids = process_tree(bench.gateway.pid)
    sittings = []
    rss_start = None
    while len(sittings) < args.max_sittings:
        sittings.append(bench.sitting(systems, len(sittings) + 1))
        rss_start = rss_start or rss_mib(gateway_pids)
        if len(sittings) < args.sittings:
            continue
        if len(sittings) < 2:
            break
        previous, last = peer_ratio(sittings[-2]), peer_ratio(sittings[-1])
        drift = abs(last - previous) / previous
        if drift <= args.tolerance:
            break
        bench.out(f"\nnoisy: the peer ratio (naive/node CPU) moved {drift:.0%} "
                  f"({previous:.2f} → {last:.2f}); another sitting")
    bench.save_raw(sittings)
    merged = median_figures(sittings[-2:])
    requests = sum(run.requests for s in sittings for key, r in s.items() if key.startswith("gw-")
                   for run in r.values())
    bench.out(f"\n## summary (median of the last {min(2, len(sittings))} sittings; ratios "
              "taken within each sitting)")
    bench.out(table(merged))
    bench.out(f"\ngateway RSS {rss_start:.1f} MiB after the first sitting, "
              f"{rss_mib(gateway_pids):.1f} MiB at the end ({requests} gateway requests)")
    bench.out("\n### targets\n" + targets(merged))


def scaling(bench: Bench) -> None:
    """`--workers 2` against one worker: both unpinned (2 CPUs cannot leave one free for
    the load generator), wrk and nginx on CPU 0, c=32 on the JSON case, alternating."""
    upstream = bench.start_nginx()
    case = bench.cases["json"]
    headers = {"Authorization": f"Bearer {bench.key}"}
    systems = {}
    for workers in (1, 2):
        proc, port = bench.start_gateway(upstream, workers, cpu=None)
        systems[workers] = System(f"{workers} worker(s)", f"http://127.0.0.1:{port}"
                                  f"{case['gateway_path']}", proc, headers)
    for system in systems.values():
        wait_ready(system.url, system.headers, system.proc)
    time.sleep(2)  # let every worker come up before its tree is read
    rss: dict[int, float] = {}
    results: dict[int, list[Run]] = {1: [], 2: []}
    for _ in range(bench.args.sittings):
        for workers, system in systems.items():
            bench.wrk(system, 32, bench.args.warmup)
            rss.setdefault(workers, rss_mib(process_tree(system.proc.pid)))  # after warm-up
            results[workers].append(bench.wrk(system, 32, bench.args.seconds))
    bench.out(f"\n## --workers scaling (JSON case, c=32), load average {load_average()}")
    for workers, runs in results.items():
        bench.out(f"- {workers} worker(s): req/s {', '.join(f'{r.rps:.0f}' for r in runs)}; "
                  f"CPU µs/req {', '.join(f'{r.cpu_us:.0f}' for r in runs)}; RSS "
                  f"{rss[workers]:.1f} → {rss_mib(process_tree(systems[workers].proc.pid)):.1f} MiB "
                  "(all processes, the supervisor's included)")
    one = statistics.median(r.rps for r in results[1])
    two = statistics.median(r.rps for r in results[2])
    bench.out(f"- 2 workers / 1 worker req/s: {two / one:.2f}")


def profile(bench: Bench) -> None:
    systems = bench.start_systems()
    system = systems[f"gw-{bench.args.profile}"]
    bench.wrk(system, 16, bench.args.warmup)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    spy = shutil.which("py-spy", path=_venv_path())
    for fmt, suffix in (("speedscope", "speedscope.json"), ("raw", "collapsed.txt")):
        target = BENCH / "results" / f"profile-{bench.args.profile}-{stamp}.{suffix}"
        recorder = subprocess.Popen([spy, "record", "--pid", str(bench.gateway.pid), "--rate", "200",
                                     "--format", fmt, "--output", str(target), "--nonblocking",
                                     "--duration", str(int(bench.args.seconds))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        bench.wrk(system, 16, bench.args.seconds)
        recorder.wait(timeout=60)
        bench.out(f"wrote {target.relative_to(ROOT)}")
    bench.out(top_functions(target))


def top_functions(collapsed: Path, count: int = 25) -> str:
    """Own and total time per function, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        samples += int(n)
        own[frames[-1]] = own.get(frames[-1], 0) + int(n)
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + int(n)
    rows = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    lines = [f"\n{samples} samples; own% total% function"]
    lines += [f"{100 * n / samples:5.1f} {100 * total[f] / samples:5.1f} {f}" for f, n in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="run", help="names the file in bench/results/")
    parser.add_argument("--sittings", type=int, default=2)
    parser.add_argument("--max-sittings", type=int, default=4)
    parser.add_argument("--tolerance", type=float, default=0.10,
                        help="peer-ratio drift between sittings that counts as noise")
    parser.add_argument("--seconds", type=int, default=8, help="each c=16 run (s)")
    parser.add_argument("--c1-seconds", type=int, default=4, help="each c=1 run (s)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument("--python", default=sys.executable, help="runs the gateway and the naive peer")
    parser.add_argument("--peer-json", choices=["stdlib", "orjson"], default=None,
                        help="the naive peer's JSON library (default: the gateway's)")
    parser.add_argument("--cases", type=lambda text: text.split(","), default=None,
                        help="gateway cases to drive, e.g. json,xml (default: all)")
    parser.add_argument("--gateway-root", type=Path, default=ROOT,
                        help="the checkout whose gateway runs (default: this one)")
    parser.add_argument("--baseline-root", type=Path, default=None,
                        help="another checkout's gateway, driven as base-<case> in the same "
                             "sittings (A/B a change: git archive <commit> gateway mappings docs "
                             "| tar -x -C DIR)")
    parser.add_argument("--profile", choices=["json", "xml", "walk"])
    parser.add_argument("--scaling", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started, too
    if args.peer_json is None:
        args.peer_json = "orjson" if _gateway_uses_orjson() else "stdlib"
    ensure_tools(bool(args.profile))
    (BENCH / "results").mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    mode = "profile" if args.profile else "scaling" if args.scaling else "compare"
    results = BENCH / "results" / f"{stamp}-{args.label}-{mode}.md"
    with _output(results) as out:
        out(f"# bench/run.py {' '.join(sys.argv[1:])}  ({stamp})\n\n{machine()}\n"
            f"git {_git_head()}; naive peer JSON: {args.peer_json}; gateway workers: {args.workers}")
        bench = Bench(args, out)
        bench.raw_path = results.with_suffix(".json")
        try:
            {"profile": profile, "scaling": scaling, "compare": compare}[mode](bench)
        finally:
            bench.close()
    print(f"\nsaved {results.relative_to(ROOT)}")


def _gateway_uses_orjson() -> bool:
    return "orjson" in (ROOT / "pyproject.toml").read_text()


def _git_head() -> str:
    done = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True,
                          text=True)
    return done.stdout.strip()


@contextmanager
def _output(path: Path) -> Iterator[Callable[[str], None]]:
    with path.open("w") as file:
        def out(text: str) -> None:
            print(text, flush=True)
            file.write(text + "\n")
            file.flush()
        yield out


if __name__ == "__main__":
    main()
