"""In-process emulators of the seven upstream chat APIs, for the demo and the tests.

The only place in the project that names vendors in Python. Each emulator is an aiohttp
app built fresh by its ``create_app()`` (demo credentials by default) and keeps, under
the typed keys of :mod:`gateway.emulators.common`, its data store (``STORE``), every
request it received (``RECORDED``) and a fault injector (``FAULTS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from . import github, hapihub, slack, smartsender, spurtcommerce, storeden, superoffice
from .common import FAULTS, RECORDED, STORE, ChatStore, FaultInjector, RecordedRequest

__all__ = [
    "EMULATORS",
    "FAULTS",
    "RECORDED",
    "STORE",
    "ChatStore",
    "EmulatorSpec",
    "FaultInjector",
    "RecordedRequest",
    "RunningEmulators",
    "DEMO_CALLS",
    "start_emulators",
]

# Canonical calls worth trying against the demo: (method, path, JSON body or None).
DEMO_CALLS: tuple[tuple[str, str, str | None], ...] = (
    ("GET", "/v1/storeden/chats", None),
    ("GET", "/v1/storeden/chats/49077/messages?limit=5", None),
    ("POST", "/v1/storeden/chats/49077/messages", '{"text": "Ciao! 👋"}'),
    ("GET", "/v1/smartsender/chats?unread=true", None),
    ("GET", "/v1/superoffice/chats/341/messages?limit=3", None),
    ("GET", "/v1/hapihub/chats/room-001/messages?limit=3", None),
    ("GET", "/v1/spurtcommerce/me", None),
    ("GET", "/v1/slack/chats/C0GENERAL/messages?limit=3", None),
    ("POST", "/v1/slack/chats/D0ANA0001/messages", '{"text": "On it 👀"}'),
    ("GET", "/v1/github/chats?state=open&limit=3", None),
    ("GET", "/v1/github/chats/1/messages?limit=3", None),
)


@dataclass(frozen=True)
class EmulatorSpec:
    name: str
    base_path: str
    create_app: Callable[..., web.Application]
    env: Callable[[str], dict[str, str]]


EMULATORS: dict[str, EmulatorSpec] = {
    "spurtcommerce": EmulatorSpec("spurtcommerce", spurtcommerce.BASE_PATH, spurtcommerce.create_app, spurtcommerce.env),
    "smartsender": EmulatorSpec("smartsender", smartsender.BASE_PATH, smartsender.create_app, smartsender.env),
    "storeden": EmulatorSpec("storeden", storeden.BASE_PATH, storeden.create_app, storeden.env),
    "superoffice": EmulatorSpec("superoffice", superoffice.BASE_PATH, superoffice.create_app, superoffice.env),
    "hapihub": EmulatorSpec("hapihub", hapihub.BASE_PATH, hapihub.create_app, hapihub.env),
    "slack": EmulatorSpec("slack", slack.BASE_PATH, slack.create_app, slack.env),
    "github": EmulatorSpec("github", github.BASE_PATH, github.create_app, github.env),
}


@dataclass
class RunningEmulators:
    """Emulators serving on loopback ports; ``await close()`` (or ``async with``) stops them."""

    apps: dict[str, web.Application] = field(default_factory=dict)
    base_urls: dict[str, str] = field(default_factory=dict)
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, base_url in self.base_urls.items():
            merged.update(EMULATORS[name].env(base_url))
        return merged

    async def _start(self, spec: EmulatorSpec, host: str) -> None:
        app = spec.create_app()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, host, 0).start()
        port = runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host
        self.apps[spec.name] = app
        self.base_urls[spec.name] = f"http://{url_host}:{port}{spec.base_path}"

    async def close(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()

    async def __aenter__(self) -> RunningEmulators:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def start_emulators(host: str = "127.0.0.1", names: Iterable[str] | None = None) -> RunningEmulators:
    """Start the named emulators (all by default), each on an ephemeral port of ``host``."""
    wanted = list(EMULATORS) if names is None else list(names)
    unknown = [name for name in wanted if name not in EMULATORS]
    if unknown:
        raise ValueError(f"unknown emulators {unknown}; known: {sorted(EMULATORS)}")
    running = RunningEmulators()
    try:
        for name in wanted:
            await running._start(EMULATORS[name], host)
    except BaseException:
        await running.close()
        raise
    return running

