"""Capture the upstream answers the bench serves from nginx, once, from the emulators.

    .venv/bin/python bench/capture.py

Seeds each case's chat in its emulator, GETs the requests `bench/cases.yaml` lists with
the emulator's own credentials, and writes the bodies to `bench/fixtures/`. The
emulator's origin in a body (a next-page link) becomes `{{UPSTREAM}}`, which
`bench/run.py` replaces by the nginx upstream's origin.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.emulators import EMULATORS, STORE, start_emulators  # noqa: E402

FIXTURES = ROOT / "bench" / "fixtures"


async def capture() -> None:
    cases = yaml.safe_load((ROOT / "bench" / "cases.yaml").read_text())["cases"]
    names = sorted({case["upstream"] for case in cases.values()})
    emulators = await start_emulators("127.0.0.1", names)
    try:
        async with aiohttp.ClientSession() as session:
            for name, case in cases.items():
                upstream = case["upstream"]
                store = emulators.apps[upstream][STORE]
                store.seed_messages(case["seed"]["chat"], case["seed"]["messages"])
                base = emulators.base_urls[upstream]
                origin = base[: -len(EMULATORS[upstream].base_path)]
                headers = _auth_headers(EMULATORS[upstream].env(base))
                for item in case["capture"]:
                    headers["Accept"] = item.get("accept", "application/json")
                    async with session.get(base + item["get"], headers=headers) as response:
                        body = await response.read()
                        if response.status != 200:
                            raise SystemExit(f"{name}: {item['get']} answered {response.status}")
                    text = body.decode().replace(origin, "{{UPSTREAM}}/" + upstream)
                    (FIXTURES / item["file"]).write_text(text)
                    print(f"{name}: {item['file']} ({len(body)} bytes)")
    finally:
        await emulators.close()


def _auth_headers(env: dict[str, str]) -> dict[str, str]:
    """Every credential the emulators accept, by the variable that carries it."""
    headers = {}
    for variable, value in env.items():
        if variable.endswith("_TOKEN"):
            headers["Authorization"] = f"Bearer {value}"
        elif variable.endswith("_AUTH"):
            headers["Authorization"] = value
        elif variable.endswith("_KEY"):
            headers["key"] = value
        elif variable.endswith("_EXCHANGE"):
            headers["exchange"] = value
    return headers


if __name__ == "__main__":
    asyncio.run(capture())
