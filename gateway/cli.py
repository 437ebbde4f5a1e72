"""`chat-gateway serve | demo | check` — and `python -m gateway`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from . import __version__

__all__ = ["main", "default_config_path"]

DEMO_API_KEY = "demo-api-key-0123456789"
DEMO_CURSOR_SECRET = "demo-cursor-secret-not-for-production"
_STOP_MARGIN = 5.0  # seconds past the configured drain before a worker is killed


def default_config_path() -> Path:
    """`routes.yaml` in the working directory, else the one shipped with the package."""
    here = Path("routes.yaml")
    if here.is_file():
        return here
    package = Path(__file__).resolve().parent
    bundled = package / "_bundled" / "routes.yaml"
    return bundled if bundled.is_file() else package.parent / "routes.yaml"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every subcommand's parser, registered tools' included, shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-gateway", description=__doc__,
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__} (Python {sys.version.split()[0]})")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND",
        parser_class=_Parser)
    config_help = ("routes.yaml to load (default: ./routes.yaml if present, else the one "
                   "shipped with the package)")
    serve = commands.add_parser("serve", help="run the gateway",
                                description="Run the gateway. SIGHUP reloads the config; "
                                            "SIGTERM drains and stops.")
    serve.add_argument("--config", type=Path, default=None, help=config_help)
    serve.add_argument("--host", help="address to listen on (default: listen.host in the "
                                      "config, i.e. $GATEWAY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: listen.port "
                                                "in the config, i.e. $GATEWAY_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes sharing the port (SO_REUSEPORT); a worker that "
                            "dies is replaced")
    demo = commands.add_parser("demo", help="run the five vendor emulators and the gateway",
                               description="Run the vendor emulators on loopback and the "
                                           "gateway in front of them, with demo credentials.")
    demo.add_argument("--port", type=int, default=8080, help="the gateway's port")
    check = commands.add_parser("check", help="validate routes.yaml and its mappings",
                                description="Load the config as `serve` would, report every "
                                            "error as file:line path: message, and exit 1 "
                                            "if there is one.")
    check.add_argument("--config", type=Path, default=None, help=config_help)
    check.add_argument("--demo-env", action="store_true",
                       help="fill unset upstream variables with the demo's values")
    for tool in _tools():
        tool.register(commands)
    args = parser.parse_args(argv)
    if hasattr(args, "run"):  # a subcommand that registered itself
        return int(args.run(args))
    if args.command == "check":
        return _check(args.config or default_config_path(), args.demo_env)
    if args.command == "demo":
        return _demo(args.port)
    return _serve(args.config or default_config_path(), args.host, args.port, args.workers)


def _tools() -> tuple[ModuleType, ...]:
    from .tools import schema_cli, test_mappings_cli, try_cli

    return (test_mappings_cli, schema_cli, try_cli)


def _check(path: Path, demo_env: bool) -> int:
    from .config.loader import load_config
    from .errors import ConfigError

    env = dict(os.environ)
    if demo_env:
        env = {**_demo_env({}), **env}
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        errors = getattr(exc, "errors", [exc])
        print("\n".join(map(str, errors)), file=sys.stderr)
        print(f"{len(errors)} error(s): {path} was not loaded", file=sys.stderr)
        return 1
    for name, route in sorted(config.routes.items()):
        print(f"{name}: {route.upstream.mapping_file}: {', '.join(sorted(route.operations))}")
    for name, variable in sorted(config.disabled.items()):
        print(f"{name}: disabled ({variable} is not set)")
    print(f"ok: {path} ({len(config.routes)} routes, sha256 {config.sha256[:12]})")
    return 0


def _demo_env(base_urls: Mapping[str, str]) -> dict[str, str]:
    from .emulators import EMULATORS

    env = {"GATEWAY_API_KEYS": DEMO_API_KEY, "GATEWAY_CURSOR_SECRET": DEMO_CURSOR_SECRET}
    for name, spec in EMULATORS.items():
        # `check --demo-env` has no emulators running: port 9 (discard) stands in
        env.update(spec.env(base_urls.get(name, f"http://127.0.0.1:9{spec.base_path}")))
    return env


def _serve(path: Path, host: str | None, port: int | None, workers: int) -> int:
    from .config.loader import load_config
    from .errors import ConfigError

    try:
        config = load_config(path, os.environ)  # refuse to start on a bad config
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host, port = host or config.host, port or config.port
    if workers <= 1:
        asyncio.run(_run(path, os.environ, host, port, reuse_port=False))
        return 0
    from .logs import configure_logging
    from .redaction import Redactor
    from .supervisor import supervise

    configure_logging(config.log_level, redact=Redactor(config.secrets))
    drain = config.server.pre_stop_seconds + config.server.grace_seconds
    return supervise(_worker, (path, host, port), workers, stop_timeout=drain + _STOP_MARGIN)


def _worker(path: Path, host: str, port: int) -> None:
    asyncio.run(_run(path, os.environ, host, port, reuse_port=True))


async def _run(path: Path, env: Mapping[str, str], host: str, port: int, *,
               reuse_port: bool, banner: str | None = None) -> None:
    from aiohttp import web

    from .gc_tuning import tune_gc
    from .resilience.drain import drain, runner_options
    from .logs import configure_logging
    from .server import create_app
    from .state import STATE

    app = create_app(path, env)
    configure_logging(app[STATE].config.log_level, redact=app[STATE].redact)
    runner = web.AppRunner(app, access_log=None, **runner_options(app[STATE].config.server))
    await runner.setup()
    tune_gc()  # after loading: what start-up built is frozen, out of the collector's way
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    loop.add_signal_handler(signal.SIGHUP, app[STATE].request_reload)  # compiled off-loop
    print(banner or f"chat-gateway listening on http://{host}:{port}", flush=True)
    log = logging.getLogger("chat_gateway.process")
    log.info("started", extra={"host": host, "port": port, "pid": os.getpid(),
                               "version": __version__,
                               "config_sha256": app[STATE].config.sha256})
    try:
        await stop.wait()
    finally:
        log.info("stopping", extra={"pid": os.getpid()})
        app[STATE].draining = True  # /readyz is 503 from now on
        await drain(runner, app[STATE].in_flight, app[STATE].config.server,
                    pre_stop=signal.SIGTERM in received)
        log.info("stopped", extra={"pid": os.getpid()})


def _demo(port: int) -> int:
    async def run() -> None:
        from .emulators import start_emulators

        emulators = await start_emulators("127.0.0.1")
        try:
            env = {**os.environ, **_demo_env(emulators.base_urls)}
            url = f"http://127.0.0.1:{port}"
            await _run(default_config_path(), env, "127.0.0.1", port, reuse_port=False,
                       banner=_demo_banner(url, emulators.base_urls))
        finally:
            await emulators.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def _demo_banner(url: str, base_urls: Mapping[str, str]) -> str:
    from .emulators import DEMO_CALLS

    auth = f'-H "Authorization: Bearer {DEMO_API_KEY}"'
    lines = [f"chat-gateway demo on {url}  (Ctrl-C to stop)",
             f"API key: {DEMO_API_KEY}", "emulated upstreams:"]
    lines += [f"  {name:14} {base}" for name, base in sorted(base_urls.items())]
    lines += ["try:", f"  curl -s {auth} {url}/v1/upstreams"]
    for method, path, body in DEMO_CALLS:
        data = f" -H 'Content-Type: application/json' -d '{body}'" if body else ""
        verb = "" if method == "GET" else f" -X {method}"
        lines.append(f"  curl -s{verb} {auth}{data} '{url}{path}'")
    lines += [f"  curl -s {url}/metrics | grep '^chat_gateway_requests_total'",
              f"  curl -s {url}/openapi.json"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
