"""Structured JSON access logs: one line per canonical call, never a secret or message text,
at the level the configuration names.

In-process tests attach a handler to the `chat_gateway` logger (the access logger,
`chat_gateway.access`, propagates to it) and render every record with the gateway's
own `JsonFormatter`; the end-to-end tests read the real CLI's stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys

import pytest

from gateway.emulators import FAULTS
from gateway.logs import ACCESS, JsonFormatter, access_line, configure_logging
from gateway.redaction import Redactor
from gateway.server import create_app
from gateway.state import STATE
from tests.conftest import API_KEY, AUTH, ROUTES, SECRET
from tests.test_metrics import UPSTREAM_SECRETS
from tests.test_workers import get_fresh, serve

MARKER = "marker-text-9c4e1a77f3"
ACCESS_FIELDS = {"ts", "level", "logger", "msg", "request_id", "consumer", "upstream",
                 "operation", "method", "route", "status", "duration_ms", "upstream_calls"}
FAILURE_FIELDS = {"problem", "upstream_status", "detail"}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, logger: str | None = None) -> list[dict]:
        formatter = JsonFormatter()
        return [json.loads(formatter.format(r)) for r in self.records
                if logger is None or r.name == logger]


@pytest.fixture
def restore_logging():
    root = logging.getLogger("chat_gateway")
    saved = root.level, root.propagate, list(root.handlers)
    yield root
    root.setLevel(saved[0])
    root.propagate = saved[1]
    root.handlers[:] = saved[2]


@pytest.fixture
def logs(restore_logging):
    """Every record of the `chat_gateway` loggers, debug and up."""
    collect = Collect()
    restore_logging.setLevel(logging.DEBUG)
    restore_logging.addHandler(collect)
    return collect


async def test_one_json_line_per_canonical_call(gateway, logs):
    calls = [
        ("GET", "/v1/storeden/chats", {**AUTH, "X-Request-ID": "req-list-1"}, None, 200),
        ("GET", "/v1/storeden/chats/49077/messages?limit=75", AUTH, None, 200),
        ("POST", "/v1/smartsender/chats/7001/messages", AUTH, {"text": "hello"}, 201),
        ("GET", "/v1/smartsender/chats?cursor=bogus", AUTH, None, 400),
        ("GET", "/v1/storeden/chats", {"Authorization": "Bearer nope-123456"}, None, 401),
        ("GET", "/v1/nosuch/chats", AUTH, None, 404),
        ("GET", "/v1/upstreams", AUTH, None, 200),
    ]
    ids = []
    for method, path, headers, body, status in calls:
        response = await gateway.request(method, path, headers=headers, json=body)
        assert response.status == status
        ids.append(response.headers["X-Request-ID"])
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await gateway.get(path)).status == 200  # not canonical calls: no line

    lines = logs.lines("chat_gateway.access")
    assert [line["request_id"] for line in lines] == ids
    assert ids[0] == "req-list-1"
    for line in lines:
        failed = FAILURE_FIELDS if line["status"] >= 400 else set()
        assert set(line) == ACCESS_FIELDS | failed, line
        assert (line["level"], line["logger"], line["msg"]) == ("info", "chat_gateway.access",
                                                                "request")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    summary = [(line["method"], line["upstream"], line["operation"], line["route"],
                line["status"], line["upstream_calls"], line["consumer"]) for line in lines]
    assert summary == [
        ("GET", "storeden", "list_chats", "/v1/{upstream}/chats", 200, 1, "default"),
        ("GET", "storeden", "list_messages", "/v1/{upstream}/chats/{chat_id}/messages", 200,
         3, "default"),
        ("POST", "smartsender", "send_message", "/v1/{upstream}/chats/{chat_id}/messages",
         201, 2, "default"),  # a two-step operation at smartsender
        ("GET", "smartsender", "list_chats", "/v1/{upstream}/chats", 400, 0, "default"),
        ("GET", "storeden", "list_chats", "/v1/{upstream}/chats", 401, 0, None),
        ("GET", "unknown", "list_chats", "/v1/{upstream}/chats", 404, 0, "default"),
        ("GET", "unknown", "list_upstreams", "/v1/upstreams", 200, 0, "default"),
    ]


async def test_a_failed_call_logs_its_problem_upstream_status_and_redacted_detail(
        gateway, emulators, logs):
    faults = emulators.apps["storeden"][FAULTS]
    echo = b'{"error": 1, "message": "bad key demo-storeden-key, try later"}'
    faults.add("status", status=500, body=echo)
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 502
    faults.add("malformed")
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    assert response.status == 502
    client_detail = (await response.json())["detail"]
    faults.add("status", status=404, body=b'{"error": 1, "message": "no such chat"}')
    assert (await gateway.get("/v1/storeden/chats/1/messages", headers=AUTH)).status == 404
    assert (await gateway.get("/v1/storeden/chats?limit=0", headers=AUTH)).status == 400

    http_error, unreadable, not_found, invalid = logs.lines("chat_gateway.access")
    assert (http_error["problem"], http_error["upstream_status"]) == ("upstream-error", 500)
    assert "try later" in http_error["detail"] and "[redacted]" in http_error["detail"]
    assert "demo-storeden-key" not in http_error["detail"]
    assert (unreadable["problem"], unreadable["upstream_status"]) == ("upstream-unreadable",
                                                                     200)
    assert unreadable["stage"] == "decode"
    assert unreadable["detail"] == client_detail and "not valid JSON" in client_detail
    assert (not_found["problem"], not_found["upstream_status"]) == ("not-found", 404)
    assert "no such chat" in not_found["detail"]
    assert (invalid["problem"], invalid["upstream_status"]) == ("invalid-request", None)
    assert "limit" in invalid["detail"]


async def test_logs_carry_no_credentials_keys_text_or_raw_paths(gateway, emulators, logs):
    assert (await gateway.post("/v1/storeden/chats/49077/messages", json={"text": MARKER},
                               headers=AUTH)).status == 201
    assert (await gateway.post("/v1/storeden/chats/49077/messages",
                               json={"text": MARKER, "colour": MARKER},
                               headers=AUTH)).status == 400
    page = await (await gateway.get("/v1/storeden/chats/49077/messages?limit=2",
                                    headers=AUTH)).json()
    assert page["data"][0]["text"] == MARKER  # the marker went through the gateway
    cursor = page["next_cursor"]
    assert (await gateway.get(f"/v1/storeden/chats/49077/messages?limit=2&cursor={cursor}",
                              headers=AUTH)).status == 200
    echo = (b'{"error": 1, "message": "bad key demo-storeden-key '
            b'for exchange demo-storeden-exchange"}')
    emulators.apps["storeden"][FAULTS].add("status", status=403, body=echo)
    assert (await gateway.get("/v1/storeden/chats", headers=AUTH)).status == 502
    wrong = "Bearer wrong-key-0b5e9d"
    assert (await gateway.get("/v1/storeden/chats", headers={"Authorization": wrong})).status == 401

    assert len(logs.lines("chat_gateway.access")) == 6
    text = "\n".join(json.dumps(line) for line in logs.lines())
    text += "\n".join(repr(vars(record)) for record in logs.records)
    forbidden = {MARKER, API_KEY, SECRET, cursor, "wrong-key-0b5e9d", "limit=2",
                 "/v1/storeden/chats/49077", *UPSTREAM_SECRETS}
    assert {token for token in forbidden if token in text} == set()


@pytest.mark.parametrize("env,expected", [
    ({}, "INFO"), ({"GATEWAY_LOG_LEVEL": "debug"}, "DEBUG"),
    ({"GATEWAY_LOG_LEVEL": "WARNING"}, "WARNING"),
], ids=["default", "env-debug", "env-warning"])
def test_log_level_is_read_from_the_config(gateway_env, env, expected):
    assert create_app(ROUTES, {**gateway_env, **env})[STATE].config.log_level == expected


def test_log_level_written_in_routes_yaml(gateway_env, tmp_path):
    text = ROUTES.read_text()
    assert "log_level: ${GATEWAY_LOG_LEVEL:-INFO}" in text
    text = text.replace("log_level: ${GATEWAY_LOG_LEVEL:-INFO}", "log_level: error").replace(
        "mappings/", str(ROUTES.parent / "mappings") + "/")
    (tmp_path / "routes.yaml").write_text(text)
    assert create_app(tmp_path / "routes.yaml", gateway_env)[STATE].config.log_level == "ERROR"


@pytest.mark.parametrize("level,access_enabled", [
    ("DEBUG", True), ("INFO", True), ("WARNING", False), ("ERROR", False)])
def test_configure_logging_sets_the_level_and_json(restore_logging, level, access_enabled):
    configure_logging(level)
    root = logging.getLogger("chat_gateway")
    assert ACCESS.isEnabledFor(logging.INFO) is access_enabled
    [handler] = root.handlers
    assert isinstance(handler.formatter, JsonFormatter) and handler.stream is sys.stderr


def test_formatter_keeps_its_own_keys_and_renders_exceptions():
    record = logging.LogRecord("chat_gateway", logging.ERROR, __file__, 1, "boom %s", ("x",),
                               None)
    record.__dict__.update({"level": "spoofed", "ts": "spoofed", "request_id": "r-1",
                            "obj": object()})
    try:
        raise ValueError("inner")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["msg"], line["request_id"]) == ("error", "boom x", "r-1")
    assert line["ts"] != "spoofed" and "ValueError: inner" in line["exc"]
    assert line["obj"].startswith("<object object")


def _access_lines(stderr: str) -> list[dict]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "chat_gateway.access"]


@pytest.mark.parametrize("level,expected", [("INFO", 3), ("WARNING", 0)])
async def test_the_cli_logs_json_at_the_configured_level(emulators, tmp_path, level, expected):
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "GATEWAY_LOG_LEVEL": level}
    log = tmp_path / "stderr.log"
    async with serve(env, log) as url:
        calls = [("/v1/storeden/chats", "cli-0", 200), ("/v1/hapihub/chats", "cli-1", 200),
                 ("/v1/nosuch/chats", "cli-2", 404)]
        for path, request_id, want in calls:
            status, _ = await get_fresh(f"{url}{path}", {**AUTH, "X-Request-ID": request_id})
            assert status == want
        assert (await get_fresh(f"{url}/metrics"))[0] == 200
    stderr = log.read_text()
    lines = _access_lines(stderr)
    assert [(line["request_id"], line["status"]) for line in lines] == [
        (request_id, want) for _, request_id, want in calls][:expected]
    assert API_KEY not in stderr and "demo-storeden-key" not in stderr


MALFORMED = [
    b"GET /v1/storeden/chats HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
    b"Broken header line\r\n\r\n",
    b"GET /v1/storeden/chats HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\x01\r\n\r\n",
    b"G(T /v1/storeden/chats HTTP/1.1\r\nAuthorization: Bearer {key}\r\n\r\n",
    b"GET /v1/storeden/chats HTTP/1.1\r\nAuthorization: Bearer {key}" + b"a" * 9000 + b"\r\n\r\n",
    b"POST /v1/storeden/chats/1/messages HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"
    b"Content-Length: {key}\r\n\r\n",
    b"POST /v1/storeden/chats/1/messages HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz{key}\r\n",
    b"GET /v1/storeden/chats?x={key} HTTP/1.1\r\nAuthorization: Basic {key}\r\n"
    b"Host: a\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
]


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_aiohttp_parser_errors_log_json_without_credentials(emulators, tmp_path, level):
    """Malformed requests carrying an Authorization header make aiohttp's own parser fail
    and log; every stderr line is still one JSON object, and none holds the key."""
    from gateway.emulators.storeden import DEMO_KEY
    env = {**emulators.env(), "GATEWAY_API_KEYS": API_KEY, "GATEWAY_CURSOR_SECRET": SECRET,
           "GATEWAY_LOG_LEVEL": level}
    log = tmp_path / "stderr.log"
    async with serve(env, log) as url:
        host, port = url.removeprefix("http://").split(":")
        for raw in MALFORMED:
            for key in (API_KEY, DEMO_KEY):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(raw.replace(b"{key}", key.encode()))
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(), 30)
                writer.close()
                assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer) or answer == b"", answer
    stderr = log.read_text()
    lines = stderr.splitlines()
    assert lines, "aiohttp logged nothing: the test provoked no parser error"
    for line in lines:
        entry = json.loads(line)
        assert isinstance(entry, dict) and {"ts", "level", "logger", "msg"} <= set(entry)
    assert API_KEY not in stderr and DEMO_KEY not in stderr
    levels = {(entry["logger"], entry["level"]) for entry in map(json.loads, lines)}
    assert ("aiohttp.server", "error") in levels
    if level == "DEBUG":  # aiohttp's loggers follow the configured level, not the root's
        assert ("aiohttp.server", "debug") in levels


def test_every_logger_writes_json_through_the_redactor(restore_logging, capsys):
    from gateway.redaction import Redactor
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    libraries = [logging.getLogger(name) for name in ("aiohttp", "asyncio")]
    saved_libraries = [(lg.level, lg.propagate, list(lg.handlers)) for lg in libraries]
    try:
        configure_logging("INFO", redact=Redactor(["s3cret/value"]))
        logging.getLogger("some.library").warning("leaked s3cret%2Fvalue here")
        logging.getLogger("aiohttp.client").error("Authorization: Bearer abc.def")
        logging.getLogger("chat_gateway").info("plain")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for logger, (level, propagate, handlers) in zip(libraries, saved_libraries, strict=True):
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers[:] = handlers
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("some.library", "leaked [redacted] here"),
        ("aiohttp.client", "Authorization: Bearer [redacted]"),
        ("chat_gateway", "plain"),
    ]


class _Text(str):
    """A str subclass: orjson would write it as it is, unredacted, if let through."""


def test_formatter_redacts_every_text_each_time_it_repeats():
    """The formatter keeps the redactor's answers for repeated texts: the second line
    must be as redacted as the first, a str subclass too, and long texts (not kept)
    are redacted on every line."""
    formatter = JsonFormatter(Redactor(["s3cret-value"]))
    long_text = "x" * 500 + " s3cret-value"
    for _ in range(3):
        record = logging.LogRecord("chat_gateway", logging.INFO, __file__, 1,
                                   "saw s3cret-value", (), None)
        record.__dict__.update({"consumer": "s3cret-value", "sub": _Text("s3cret-value"),
                                "long": long_text, "surrogate": "\ud800 s3cret-value",
                                "huge": 10 ** 30})
        text = formatter.format(record)
        assert "s3cret" not in text
        line = json.loads(text)
        assert line["consumer"] == line["sub"] == "[redacted]"
        assert line["long"].endswith(" [redacted]") and line["huge"] == 10 ** 30


def test_formatter_memo_is_bounded():
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text

    formatter = JsonFormatter(redact)
    for n in range(10_000):
        record = logging.LogRecord("chat_gateway", logging.INFO, __file__, 1, "m", (), None)
        record.request_id = f"id-{n}"
        formatter.format(record)
    assert len(formatter._redact._seen) <= 4096
    assert seen.count("id-9999") == 1 and seen.count("m") >= 2  # cleared once full


class _Writes:
    """A stream that keeps each write(2)-like call apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in "".join(self.writes).splitlines()]


ACCESS_SAMPLE = {"request_id": "r-1", "consumer": "default", "upstream": "storeden",
                 "operation": "list_chats", "method": "GET", "route": "/v1/{upstream}/chats",
                 "status": 200, "duration_ms": 1.5, "upstream_calls": 1,
                 "detail": "echoed s3cret/value", "level": "spoofed", "upstream_status": None}


def _handler_with(restore_logging, stream):
    configure_logging("INFO", redact=Redactor(["s3cret/value"]))
    [handler] = restore_logging.handlers
    handler.setStream(stream)
    return handler


def test_the_short_way_writes_the_line_the_formatter_writes(restore_logging):
    """An access line handed to the gateway's handler directly reads as the same line
    made from a record: redacted, the formatter's own keys kept."""
    stream = _Writes()
    handler = _handler_with(restore_logging, stream)
    access_line(dict(ACCESS_SAMPLE))  # no running loop: written at once
    [direct] = stream.lines()
    record = ACCESS.makeRecord(ACCESS.name, logging.INFO, "", 0, "request", (), None,
                               extra=dict(ACCESS_SAMPLE))
    via_record = json.loads(handler.formatter.format(record))
    assert direct.pop("ts")[:19] == via_record.pop("ts")[:19]  # same second
    assert direct == via_record
    assert direct["detail"] == "echoed [redacted]" and direct["level"] == "info"


async def test_access_lines_of_one_loop_turn_go_out_in_one_write_and_in_order(restore_logging):
    stream = _Writes()
    _handler_with(restore_logging, stream)
    for n in range(3):
        access_line({**ACCESS_SAMPLE, "request_id": f"r-{n}"})
    assert stream.writes == []  # waiting for the end of this turn
    logging.getLogger("chat_gateway.upstream").warning("after the three")
    access_line({**ACCESS_SAMPLE, "request_id": "r-3"})
    await asyncio.sleep(0)
    assert len(stream.writes) == 3  # the three together, the warning, then r-3
    assert [line.get("request_id", line["msg"]) for line in stream.lines()] == [
        "r-0", "r-1", "r-2", "after the three", "r-3"]


async def test_waiting_access_lines_are_written_by_flush_at_shutdown(restore_logging):
    stream = _Writes()
    handler = _handler_with(restore_logging, stream)
    access_line(dict(ACCESS_SAMPLE))
    handler.flush()  # what logging.shutdown() does at exit, before the loop turns again
    assert [line["request_id"] for line in stream.lines()] == ["r-1"]
    await asyncio.sleep(0)
    assert len(stream.lines()) == 1  # written once


def test_a_handler_someone_added_sees_every_access_line_as_a_record(restore_logging, logs):
    configure_logging("INFO")
    restore_logging.addHandler(logs)
    access_line(dict(ACCESS_SAMPLE))
    assert [line["request_id"] for line in logs.lines("chat_gateway.access")] == ["r-1"]


class _Broken(_Writes):
    def write(self, text: str) -> None:
        raise BrokenPipeError("stderr is gone")


async def test_a_stream_that_fails_loses_the_lines_not_the_request(restore_logging, capsys):
    """Like StreamHandler.emit: a failing stream is reported (logging.raiseExceptions),
    never raised into the event loop or the request."""
    _handler_with(restore_logging, _Broken())
    access_line(dict(ACCESS_SAMPLE))
    await asyncio.sleep(0)  # the scheduled write fails here, inside the loop
    logging.getLogger("chat_gateway").warning("still logging")
    assert "1 access line(s) not written" in capsys.readouterr().err
