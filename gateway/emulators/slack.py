"""Slack Web API emulator: conversations as chats (https://docs.slack.dev/reference/methods).

What a gateway must cope with, as the real API does it:

- RPC-style methods under ``/api/<method>``; arguments in the query string, a form body
  or (write methods) a JSON body; a JSON body without ``charset`` still works but the
  answer carries the ``missing_charset`` warning.
- Every answer is HTTP 200 ``{"ok": true, …}`` or ``{"ok": false, "error": "<code>"}``
  (``channel_not_found``, ``not_in_channel``, ``invalid_auth``, ``msg_too_long``, …);
  only rate limiting is HTTP 429 with ``Retry-After`` (injected with ``FAULTS``).
- Token-cursor paging: ``cursor`` + ``limit`` in, ``response_metadata.next_cursor`` out,
  empty or absent at the end. ``conversations.history`` returns at most 15 messages a
  call (the limit Slack applies to apps outside its Marketplace) and says ``has_more``;
  ``conversations.list`` filters types after paging, so its pages can come back short or
  even empty while more exist.
- Message ids are ``ts`` strings (epoch seconds with six fractional digits), newest first;
  ``oldest``/``latest``/``inclusive`` bound the history (``latest=ts&inclusive=true&limit=1``
  reads one message). Text is escaped (``&amp; &lt; &gt;``). DMs (``is_im``) have a
  ``user``; channels do not.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from .common import (
    Clock,
    Reply,
    bearer_token,
    build_app,
    json_response,
    minute_times,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
)

__all__ = ["BASE_PATH", "BOT_USER", "DEMO_TOKEN", "HISTORY_PAGE_MAX", "SlackStore", "create_app", "env"]

BASE_PATH: Final = "/api"
DEMO_TOKEN: Final = "xoxb-17-2024-demo-slack-bot-token"
BOT_USER: Final = "U0GWBOT01"
_BOT_ID: Final = "B0GWBOT01"
_TEAM: Final = ("T0ACME001", "Acme Support")
HISTORY_PAGE_MAX: Final = 15
_TEXT_MAX: Final = 40000
_USERS: Final = {
    BOT_USER: ("chatgateway", "Chat Gateway", True),
    "U0ANA0001": ("ana", "Ana Reyes", False),
    "U0BEN0002": ("ben", "Ben Okafor", False),
    "U0CHL0003": ("chloe", "Chloé Martin", False),
}
# (id, name or None for a DM, kind, member, archived, DM user, messages); general is large.
_DEFAULT: Final = (
    ("C0GENERAL", "general", "public", True, False, None, 130),
    ("C0RANDOM1", "random", "public", True, False, None, 6),
    ("C0OPSALRT", "ops-alerts", "private", True, False, None, 4),
    ("C0ANNOUNC", "announcements", "public", False, False, None, 3),
    ("C0OLDPROJ", "old-project", "public", True, True, None, 2),
    ("D0ANA0001", None, "im", True, False, "U0ANA0001", 25),
    ("D0BEN0002", None, "im", True, False, "U0BEN0002", 0),
)
_PHRASES: Final = (
    "Hi team 👋",
    "Order #4411 shipped ✅",
    "Is the fee < $5 & \"refundable\"?",
    "<@U0GWBOT01> can you check this?",
    "Thanks! 🙏",
    "Deploy at 17:00 🚀",
)
_SEED_NEWEST: Final = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)
_TS: Final = re.compile(r"^[0-9]{1,12}\.[0-9]{6}$")
_TYPES: Final = {"public": "public_channel", "private": "private_channel", "im": "im"}


def _escape(text: str) -> str:
    """Slack's message text escaping: only &, < and > (mentions stay as ``<@U…>``)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"&lt;(@U[A-Z0-9]+)&gt;", r"<\1>", text)


def _ts(moment: datetime, sequence: int) -> str:
    return f"{int(moment.timestamp())}.{sequence % 1_000_000:06d}"


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds), int(fraction or 0)


@dataclass
class _Message:
    ts: str
    user: str
    text: str
    files: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if self.user == BOT_USER:
            out.update(bot_id=_BOT_ID, app_id="A0GWAPP01")
        if self.files:
            out.update(files=[dict(f) for f in self.files], upload=True)
        return out


@dataclass
class _Conversation:
    id: str
    name: str | None
    kind: str  # public | private | im
    created: int
    is_member: bool
    is_archived: bool
    user: str | None
    messages: list[_Message] = field(default_factory=list)  # oldest first
    last_read: str = "0000000000.000000"
    is_open: bool = True

    def render(self, *, detail: bool = False) -> dict[str, Any]:
        if self.kind == "im":
            out: dict[str, Any] = {"id": self.id, "created": self.created, "is_im": True, "is_org_shared": False,
                                   "user": self.user, "is_user_deleted": False, "priority": 0}
        else:
            out = {"id": self.id, "name": self.name, "is_channel": True, "is_group": False, "is_im": False,
                   "is_mpim": False, "is_private": self.kind == "private", "created": self.created,
                   "is_archived": self.is_archived, "is_general": self.name == "general",
                   "is_member": self.is_member, "creator": "U0ANA0001",
                   "topic": {"value": "", "creator": "", "last_set": 0},
                   "purpose": {"value": f"#{self.name} talk", "creator": "U0ANA0001", "last_set": self.created},
                   "num_members": 4}
        if detail and self.is_member:
            out["last_read"] = self.last_read
            if self.kind == "im":
                unread = [m for m in self.messages if _ts_key(m.ts) > _ts_key(self.last_read) and m.user != BOT_USER]
                out.update(is_open=self.is_open, unread_count=len(unread), unread_count_display=len(unread),
                           latest=self.messages[-1].render() if self.messages else None)
        return out


class SlackStore:
    """Conversations in creation order, each with its messages oldest first."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._conversations: dict[str, _Conversation] = {}
        self._sequence = 100

    def seed_default(self) -> None:
        for index, (cid, name, kind, member, archived, user, count) in enumerate(_DEFAULT):
            created = int((_SEED_NEWEST - timedelta(days=400 - index)).timestamp())
            self._conversations[cid] = _Conversation(cid, name, kind, created, member, archived, user)
            self.seed_messages(cid, count)

    def seed_messages(self, chat_id: str, count: int) -> None:
        conversation = self._conversations.get(chat_id)
        if conversation is None:
            created = int((_SEED_NEWEST - timedelta(days=300)).timestamp())
            conversation = self._conversations[chat_id] = _Conversation(
                chat_id, f"seeded-{chat_id.lower()}", "public", created, True, False, None)
        rng = seed_rng("slack", chat_id, count)
        people = [conversation.user] if conversation.user else [u for u in _USERS if u != BOT_USER]
        conversation.messages = []
        for index, (moment, inbound) in enumerate(zip(minute_times(_SEED_NEWEST, count),
                                                      seed_directions(rng, count), strict=True)):
            author = rng.choice(people) if inbound else BOT_USER
            files = []
            if rng.random() < 0.1:
                files = [{"id": f"F0{chat_id[-4:]}{index:04d}", "name": f"photo-{index + 1}.png",
                          "mimetype": "image/png",
                          "url_private": f"https://files.slack.com/files-pri/{_TEAM[0]}/photo-{index + 1}.png"}]
            self._sequence += 1
            text = _escape(f"{rng.choice(_PHRASES)} #{index + 1}")
            conversation.messages.append(_Message(_ts(moment, self._sequence), author, text, files))
        conversation.last_read = conversation.messages[-3].ts if count >= 3 else "0000000000.000000"

    def seed_chats(self, count: int) -> None:
        self._conversations.clear()
        for index in range(count):
            cid = f"C{index + 1:08d}"
            created = int((_SEED_NEWEST - timedelta(days=200, minutes=index)).timestamp())
            self._conversations[cid] = _Conversation(cid, f"channel-{index + 1}", "public", created, True, False, None)
            self.seed_messages(cid, 1 + index % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [m.ts for m in reversed(self._conversations[chat_id].messages)]

    def chat_ids(self) -> list[str]:
        return list(self._conversations)

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        conversation = self._conversations[chat_id]
        author = (conversation.user or "U0ANA0001") if inbound else BOT_USER
        return self.post(conversation, author, _escape(text)).ts

    def conversations(self) -> list[_Conversation]:
        return list(self._conversations.values())

    def get(self, chat_id: str | None) -> _Conversation | None:
        return self._conversations.get(chat_id or "")

    def post(self, conversation: _Conversation, user: str, text: str) -> _Message:
        now = self._clock()
        latest = conversation.messages[-1].ts if conversation.messages else "0.000000"
        self._sequence += 1
        ts = _ts(now, self._sequence)
        if _ts_key(ts) <= _ts_key(latest):
            ts = f"{_ts_key(latest)[0] + 1}.{self._sequence % 1_000_000:06d}"
        message = _Message(ts, user, text)
        conversation.messages.append(message)
        return message


def _fail(error: str, **extra: Any) -> Reply:
    return Reply(json_response({"ok": False, "error": error, **extra}))


def _cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _uncursor(kind: str, cursor: str) -> str:
    try:
        prefix, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _fail("invalid_cursor") from None
    if prefix != kind or not value:
        raise _fail("invalid_cursor")
    return value


def _limit(args: dict[str, str], default: int, maximum: int) -> int:
    if "limit" not in args or args["limit"] == "":
        return default
    value = strict_int(args["limit"])
    if value is None or value < 0:
        raise _fail("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid `limit`"]})
    return min(value or default, maximum)


class _Api:
    def __init__(self, store: SlackStore, token: str, history_page_max: int) -> None:
        self._store = store
        self._token = token
        self._history_max = history_page_max
        self._methods = {
            "auth.test": self.auth_test, "users.info": self.users_info,
            "conversations.list": self.conversations_list, "conversations.info": self.conversations_info,
            "conversations.history": self.conversations_history, "conversations.mark": self.conversations_mark,
            "conversations.close": self.conversations_close, "chat.postMessage": self.post_message,
        }

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", f"{BASE_PATH}/{{method}}", self.dispatch)]

    async def dispatch(self, request: web.Request) -> web.Response:
        method = self._methods.get(request.match_info["method"])
        if method is None:
            return json_response({"ok": False, "error": "unknown_method"}, 404)
        if request.method not in ("GET", "POST"):
            raise _fail("method_not_allowed")
        args, warning = await _arguments(request)
        token = bearer_token(request) or args.pop("token", None)
        if not token:
            raise _fail("not_authed")
        if token != self._token:
            raise _fail("invalid_auth")
        answer = method(args)
        if warning:
            answer.update(warning=warning, response_metadata={**answer.get("response_metadata", {}),
                                                              "warnings": [warning]})
        return json_response({"ok": True, **answer})

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://acme-support.slack.com/", "team": _TEAM[1], "user": _USERS[BOT_USER][0],
                "team_id": _TEAM[0], "user_id": BOT_USER, "bot_id": _BOT_ID, "is_enterprise_install": False}

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _USERS.get(str(args.get("user", "")))
        if user is None:
            raise _fail("user_not_found")
        name, real_name, is_bot = user
        profile = {"real_name": real_name, "display_name": name, "image_48": f"https://avatars.slack-edge.com/{name}.png"}
        return {"user": {"id": args["user"], "team_id": _TEAM[0], "name": name, "real_name": real_name,
                         "is_bot": is_bot, "deleted": False, "profile": profile}}

    def conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        if not types <= set(_TYPES.values()) | {"mpim"}:
            raise _fail("invalid_types")
        exclude_archived = str(args.get("exclude_archived", "false")).lower() in ("true", "1")
        everything = self._store.conversations()
        start = 0
        if args.get("cursor"):
            after = _uncursor("team", str(args["cursor"]))
            ids = [c.id for c in everything]
            if after not in ids:
                raise _fail("invalid_cursor")
            start = ids.index(after)
        window = everything[start:start + _limit(args, 100, 1000)]
        rest = everything[start + len(window):]
        shown = [c.render() for c in window
                 if _TYPES[c.kind] in types and not (exclude_archived and c.is_archived)]
        return {"channels": shown, "response_metadata": {"next_cursor": _cursor("team", rest[0].id) if rest else ""}}

    def conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._conversation(args).render(detail=True)}

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        conversation = self._readable(args)
        oldest, latest = _bound(args, "oldest"), _bound(args, "latest")
        inclusive = str(args.get("inclusive", "false")).lower() in ("true", "1")
        rows = [m for m in reversed(conversation.messages)
                if _within(_ts_key(m.ts), oldest, latest, inclusive)]
        if args.get("cursor"):
            next_ts = _uncursor("next_ts", str(args["cursor"]))
            rows = [m for m in rows if _ts_key(m.ts) <= _ts_key(next_ts)]
        size = _limit(args, 100, self._history_max)
        page, rest = rows[:size], rows[size:]
        answer: dict[str, Any] = {"messages": [m.render() for m in page], "has_more": bool(rest),
                                  "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}
        if rest:
            answer["response_metadata"] = {"next_cursor": _cursor("next_ts", rest[0].ts)}
        return answer

    def conversations_mark(self, args: dict[str, Any]) -> dict[str, Any]:
        conversation = self._readable(args)
        ts = str(args.get("ts", ""))
        if not _TS.match(ts):
            raise _fail("invalid_timestamp")
        conversation.last_read = ts
        return {}

    def conversations_close(self, args: dict[str, Any]) -> dict[str, Any]:
        conversation = self._conversation(args)
        if conversation.kind != "im":
            raise _fail("method_not_supported_for_channel_type")
        if not conversation.is_open:
            return {"no_op": True, "already_closed": True}
        conversation.is_open = False
        return {}

    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        conversation = self._conversation(args)
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _fail("no_text")
        if len(text) > _TEXT_MAX:
            raise _fail("msg_too_long")
        if conversation.is_archived:
            raise _fail("is_archived")
        if not conversation.is_member:
            raise _fail("not_in_channel")
        message = self._store.post(conversation, BOT_USER, _escape(text))
        conversation.is_open = True
        return {"channel": conversation.id, "ts": message.ts, "message": {**message.render(), "team": _TEAM[0]}}

    def _conversation(self, args: dict[str, Any]) -> _Conversation:
        conversation = self._store.get(str(args.get("channel", "")))
        if conversation is None or (conversation.kind == "private" and not conversation.is_member):
            raise _fail("channel_not_found")
        return conversation

    def _readable(self, args: dict[str, Any]) -> _Conversation:
        conversation = self._conversation(args)
        if not conversation.is_member:
            raise _fail("not_in_channel")
        return conversation


def _bound(args: dict[str, Any], name: str) -> tuple[int, int] | None:
    value = str(args.get(name) or "")
    if not value:
        return None
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,6})?", value):
        raise _fail("invalid_ts_" + name)
    seconds, _, fraction = value.partition(".")
    return int(seconds), int(fraction.ljust(6, "0")) if fraction else 0


def _within(key: tuple[int, int], oldest: tuple[int, int] | None, latest: tuple[int, int] | None,
            inclusive: bool) -> bool:
    if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
        return False
    return latest is None or key < latest or (key == latest and inclusive)


async def _arguments(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Query arguments, overlaid by a form or JSON body; and the charset warning, if any."""
    args: dict[str, Any] = dict(request.query)
    raw = await request.read()
    if request.method != "POST" or not raw:
        return args, None
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            raise _fail("invalid_json") from None
        if not isinstance(body, dict):
            raise _fail("json_not_object")
        args.update(body)
        return args, None if request.charset else "missing_charset"
    if request.content_type == "application/x-www-form-urlencoded":
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return args, None
    raise _fail("invalid_form_data")


def create_app(*, token: str = DEMO_TOKEN, clock: Clock = utc_now, seed: bool = True,
               history_page_max: int = HISTORY_PAGE_MAX) -> web.Application:
    store = SlackStore(clock)
    if seed:
        store.seed_default()
    return build_app(store, _Api(store, token, history_page_max).routes())


def env(base_url: str) -> dict[str, str]:
    return {"SLACK_BASE_URL": base_url, "SLACK_TOKEN": DEMO_TOKEN, "SLACK_BOT_USER_ID": BOT_USER}
