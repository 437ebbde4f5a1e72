"""GitHub REST API emulator: a repository's issues as chats, issue comments as messages
(https://docs.github.com/rest/issues).

What a gateway must cope with, as the real API does it:

- ``Authorization: Bearer <token>`` (or ``token <token>``); ``Accept:
  application/vnd.github+json``; ``X-GitHub-Api-Version`` (an unknown version is a 400).
- Page paging with ``per_page`` (default 30, at most 100) and ``page``, and the way to the
  next page in an RFC 8288 ``Link`` header of absolute URLs — which, for a repository's
  issues, point at ``/repositories/{id}/…`` rather than the ``/repos/{owner}/{repo}/…``
  path that was asked for. No ``rel="next"`` on the last page.
- Issues are listed newest first by default (``sort=created&direction=desc``, ``state=open``)
  and include pull requests (with a ``pull_request`` key). One issue's comments are
  ordered by ascending id, oldest first, with no way to reverse them (only ``since``).
- ISO 8601 dates with ``Z``; ids are integers; issue numbers are per repository.
- Errors are ``{"message", "documentation_url", "status"}``: 401 bad credentials, 404,
  410 for a deleted issue, 422 ``Validation Failed`` with ``errors``, and 403 with
  ``X-RateLimit-Remaining: 0`` once the hourly quota (``rate_limit``) is spent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web
from yarl import URL

from .common import (
    Clock,
    Handler,
    Middleware,
    Reply,
    build_app,
    json_response,
    minute_times,
    seed_directions,
    seed_rng,
    strict_int,
    utc_now,
)

__all__ = ["ACCOUNT", "BASE_PATH", "DEMO_TOKEN", "OWNER", "REPO", "REPO_ID", "GithubStore", "create_app", "env"]

BASE_PATH: Final = ""
DEMO_TOKEN: Final = "ghp_demoGatewayToken0123456789abcdef0000"
OWNER, REPO, REPO_ID = "acme", "support", 1300192
ACCOUNT: Final = "octo-agent"
API_VERSIONS: Final = ("2022-11-28", "2026-03-10")
_DOCS: Final = "https://docs.github.com/rest"
_USERS: Final = {ACCOUNT: 583231, "ana-reyes": 1001, "ben-okafor": 1002, "chloe-m": 1003}
_PUSH_ACCESS: Final = frozenset({ACCOUNT, "mona-support"})  # assignable; others are ignored
_BODY_MAX: Final = 65536
# (title, author, comments, state, assignee, pull request, deleted); numbers count from 1.
_DEFAULT: Final = (
    ("Login fails with 500 after upgrade", "ana-reyes", 75, "open", ACCOUNT, False, False),
    ("Feature request: dark mode 🌙", "ben-okafor", 3, "open", None, False, False),
    ('Crash on <Save> & "export"', "chloe-m", 5, "closed", ACCOUNT, False, False),
    ("Fix typo in README", "ben-okafor", 1, "open", None, True, False),
    ("Question about pricing", "ana-reyes", 0, "open", None, False, False),
    ("Spam", "chloe-m", 2, "open", None, False, True),
    ("Broken link in docs", "chloe-m", 31, "open", None, False, False),
)
_PHRASES: Final = ("Thanks for the report 🙏", "I can reproduce this on 2.3.1", "Any update?",
                   "Fixed in `main` ✅", "Here is the log:\n```\nERROR 500\n```", "Same here 👍")
_SEED_NEWEST: Final = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(api: str, login: str) -> dict[str, Any]:
    uid = _USERS.get(login, 9000)
    return {"login": login, "id": uid, "node_id": f"MDQ6VXNlcj{uid}", "type": "User", "site_admin": False,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "url": f"{api}/users/{login}", "html_url": f"https://github.com/{login}"}


@dataclass
class _Comment:
    id: int
    issue: int
    author: str
    body: str
    created: datetime
    updated: datetime

    def render(self, api: str) -> dict[str, Any]:
        issue_url = f"{api}/repos/{OWNER}/{REPO}/issues/{self.issue}"
        return {"url": f"{api}/repos/{OWNER}/{REPO}/issues/comments/{self.id}",
                "html_url": f"https://github.com/{OWNER}/{REPO}/issues/{self.issue}#issuecomment-{self.id}",
                "issue_url": issue_url, "id": self.id, "node_id": f"IC_kwDOAT{self.id}",
                "user": _user(api, self.author), "created_at": _iso(self.created), "updated_at": _iso(self.updated),
                "author_association": "MEMBER" if self.author in _PUSH_ACCESS else "NONE",
                "body": self.body, "performed_via_github_app": None}


@dataclass
class _Issue:
    number: int
    title: str
    author: str
    state: str
    created: datetime
    updated: datetime
    assignees: list[str] = field(default_factory=list)
    pull_request: bool = False
    deleted: bool = False
    closed: datetime | None = None
    state_reason: str | None = None
    comments: list[_Comment] = field(default_factory=list)  # ascending id

    def render(self, api: str) -> dict[str, Any]:
        base = f"{api}/repos/{OWNER}/{REPO}"
        out: dict[str, Any] = {
            "url": f"{base}/issues/{self.number}", "repository_url": base,
            "comments_url": f"{base}/issues/{self.number}/comments",
            "html_url": f"https://github.com/{OWNER}/{REPO}/{'pull' if self.pull_request else 'issues'}/{self.number}",
            "id": 200_000_000 + self.number, "node_id": f"I_kwDOAT{self.number:04d}", "number": self.number,
            "title": self.title, "user": _user(api, self.author), "labels": [], "state": self.state,
            "locked": False, "assignee": _user(api, self.assignees[0]) if self.assignees else None,
            "assignees": [_user(api, login) for login in self.assignees], "milestone": None,
            "comments": len(self.comments), "created_at": _iso(self.created), "updated_at": _iso(self.updated),
            "closed_at": _iso(self.closed) if self.closed else None, "author_association": "NONE",
            "active_lock_reason": None, "body": f"{self.title}\n\nReported by @{self.author}.",
            "state_reason": self.state_reason}
        if self.pull_request:
            out["pull_request"] = {"url": f"{base}/pulls/{self.number}", "merged_at": None,
                                   "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{self.number}"}
        return out


class GithubStore:
    """One repository's issues by number, each with its comments in ascending id order."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._issues: dict[int, _Issue] = {}
        self._next_comment = 1_500_000_000

    def seed_default(self) -> None:
        for number, (title, author, count, state, assignee, pr, deleted) in enumerate(_DEFAULT, 1):
            created = _SEED_NEWEST - timedelta(days=60 - number)
            issue = _Issue(number, title, author, state, created, created, [assignee] if assignee else [], pr, deleted)
            if state == "closed":
                issue.closed, issue.state_reason = created + timedelta(days=1), "completed"
            self._issues[number] = issue
            self.seed_messages(str(number), count)

    def seed_messages(self, chat_id: str, count: int) -> None:
        number = int(chat_id)
        issue = self._issues.get(number)
        if issue is None:
            created = _SEED_NEWEST - timedelta(days=30)
            issue = self._issues[number] = _Issue(number, f"Issue {number}", "ana-reyes", "open", created, created)
        rng = seed_rng("github", number, count)
        issue.comments = []
        for moment, inbound in zip(minute_times(_SEED_NEWEST, count), seed_directions(rng, count), strict=True):
            author = issue.author if inbound else ACCOUNT
            self._append(issue, author, f"{rng.choice(_PHRASES)} (#{len(issue.comments) + 1})", moment)
        if count:
            issue.updated = issue.comments[-1].created

    def seed_chats(self, count: int) -> None:
        self._issues.clear()
        for number in range(1, count + 1):
            created = _SEED_NEWEST - timedelta(days=30, minutes=count - number)
            self._issues[number] = _Issue(number, f"Issue {number} 🐛", "ben-okafor", "open", created, created)
            self.seed_messages(str(number), 1 + number % 3)

    def message_ids_newest_first(self, chat_id: str) -> list[str]:
        return [str(c.id) for c in reversed(self._issues[int(chat_id)].comments)]

    def chat_ids(self) -> list[str]:
        """Every issue, newest first: what ``GET /issues?state=all`` walks through."""
        return [str(i.number) for i in self.issues(state="all", direction="desc")]

    def add_message(self, chat_id: str, text: str, inbound: bool = True) -> str:
        issue = self._issues[int(chat_id)]
        return str(self.comment(issue, issue.author if inbound else ACCOUNT, text).id)

    def issues(self, *, state: str, direction: str, sort: str = "created", assignee: str | None = None,
               creator: str | None = None) -> list[_Issue]:
        rows = [i for i in self._issues.values() if not i.deleted and state in ("all", i.state)]
        if assignee == "none":
            rows = [i for i in rows if not i.assignees]
        elif assignee == "*":
            rows = [i for i in rows if i.assignees]
        elif assignee is not None:
            rows = [i for i in rows if assignee in i.assignees]
        if creator is not None:
            rows = [i for i in rows if i.author == creator]
        keys = {"created": lambda i: (i.created, i.number), "updated": lambda i: (i.updated, i.number),
                "comments": lambda i: (len(i.comments), i.number)}
        return sorted(rows, key=keys[sort], reverse=direction == "desc")

    def issue(self, number: int) -> _Issue | None:
        return self._issues.get(number)

    def comment_by_id(self, comment_id: int) -> _Comment | None:
        for issue in self._issues.values():
            for comment in issue.comments:
                if comment.id == comment_id and not issue.deleted:
                    return comment
        return None

    def comment(self, issue: _Issue, author: str, body: str) -> _Comment:
        latest = issue.comments[-1].created if issue.comments else issue.created
        now = max(self.now(), latest + timedelta(seconds=1))
        comment = self._append(issue, author, body, now)
        issue.updated = now
        return comment

    def now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    def touch(self, issue: _Issue) -> None:
        issue.updated = max(self.now(), issue.updated + timedelta(seconds=1))

    def _append(self, issue: _Issue, author: str, body: str, moment: datetime) -> _Comment:
        self._next_comment += 1
        comment = _Comment(self._next_comment, issue.number, author, body, moment, moment)
        issue.comments.append(comment)
        return comment


def _error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(json_response({"message": message, "documentation_url": _DOCS, **extra, "status": str(status)},
                               status))


def _invalid(resource: str, field_name: str, code: str, value: Any = None) -> Reply:
    error = {"resource": resource, "field": field_name, "code": code}
    if value is not None:
        error["value"] = value
    return _error(422, "Validation Failed", errors=[error])


class _Quota:
    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit, self.used, self._clock = limit, 0, clock
        self.reset = int((clock() + timedelta(hours=1)).timestamp())

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
                "X-RateLimit-Reset": str(self.reset), "X-RateLimit-Used": str(self.used),
                "X-RateLimit-Resource": "core"}


def _gatekeeper(token: str, quota: _Quota) -> Middleware:
    """Credentials, API version and the hourly quota, before any handler; rate headers on every answer."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not value.strip():
            return _error(401, "Requires authentication").response
        if value.strip() != token:
            return _error(401, "Bad credentials").response
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            return _error(400, f"API version {version} is not supported.").response
        if quota.used >= quota.limit:
            response = _error(403, f"API rate limit exceeded for user ID {_USERS[ACCOUNT]}.").response
        else:
            quota.used += 1
            try:
                response = await handler(request)
            except Reply as reply:
                response = reply.response
        response.headers.update(quota.headers())
        response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        return response

    return check


def _page_args(request: web.Request) -> tuple[int, int]:
    per_page = strict_int(request.query.get("per_page"))
    page = strict_int(request.query.get("page"))
    per_page = 30 if per_page is None or per_page < 1 else min(per_page, 100)
    return per_page, 1 if page is None or page < 1 else page


def _paged(request: web.Request, rows: list[Any], path: str) -> tuple[list[Any], dict[str, str]]:
    """One page of ``rows`` and its ``Link`` header of absolute ``/repositories/{id}`` URLs."""
    per_page, page = _page_args(request)
    last = max(1, -(-len(rows) // per_page))
    links = []
    url = URL(str(request.url.origin()) + path).with_query({**request.query, "per_page": str(per_page)})
    for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
            links.append(f'<{url.update_query(page=str(number))}>; rel="{rel}"')
    headers = {"Link": ", ".join(links)} if links else {}
    return rows[(page - 1) * per_page:page * per_page], headers


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        raise _error(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise _error(400, "Problems parsing JSON")
    return body


class _Api:
    def __init__(self, store: GithubStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        out = [web.get(f"{BASE_PATH}/user", self.me),
               web.get(f"{BASE_PATH}/repos/{{owner}}/{{repo}}/issues/comments/{{id}}", self.get_comment)]
        for prefix in (f"{BASE_PATH}/repos/{{owner}}/{{repo}}", f"{BASE_PATH}/repositories/{{repo_id}}"):
            out += [web.get(f"{prefix}/issues", self.list_issues),
                    web.get(f"{prefix}/issues/{{number}}", self.get_issue),
                    web.patch(f"{prefix}/issues/{{number}}", self.update_issue),
                    web.post(f"{prefix}/issues/{{number}}/assignees", self.add_assignees),
                    web.get(f"{prefix}/issues/{{number}}/comments", self.list_comments),
                    web.post(f"{prefix}/issues/{{number}}/comments", self.create_comment)]
        return out

    async def me(self, request: web.Request) -> web.Response:
        user = _user(_api(request), ACCOUNT)
        return json_response({**user, "name": "Octo Agent", "email": "agent@acme.example", "company": "Acme"})

    async def list_issues(self, request: web.Request) -> web.Response:
        _repository(request)
        query = request.query
        state, sort, direction = query.get("state", "open"), query.get("sort", "created"), query.get("direction", "desc")
        for name, value, allowed in (("state", state, ("open", "closed", "all")),
                                     ("sort", sort, ("created", "updated", "comments")),
                                     ("direction", direction, ("asc", "desc"))):
            if value not in allowed:
                raise _invalid("Issue", name, "invalid", value)
        rows = self._store.issues(state=state, sort=sort, direction=direction,
                                  assignee=query.get("assignee"), creator=query.get("creator"))
        page, headers = _paged(request, rows, f"/repositories/{REPO_ID}/issues")
        return _with(json_response([i.render(_api(request)) for i in page]), headers)

    async def get_issue(self, request: web.Request) -> web.Response:
        return json_response(self._issue(request).render(_api(request)))

    async def update_issue(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        body = await _json_object(request)
        state = body.get("state", issue.state)
        if state not in ("open", "closed"):
            raise _invalid("Issue", "state", "invalid", state)
        reason = body.get("state_reason")
        if reason not in (None, "completed", "not_planned", "reopened"):
            raise _invalid("Issue", "state_reason", "invalid", reason)
        if state != issue.state:
            issue.state = state
            issue.closed = self._store.now() if state == "closed" else None
            issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
            self._store.touch(issue)
        if isinstance(body.get("title"), str):
            issue.title = body["title"]
        return json_response(issue.render(_api(request)))

    async def add_assignees(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        logins = (await _json_object(request)).get("assignees")
        if not isinstance(logins, list) or not all(isinstance(login, str) for login in logins):
            raise _invalid("Issue", "assignees", "invalid")
        for login in logins:
            if login in _PUSH_ACCESS and login not in issue.assignees and len(issue.assignees) < 10:
                issue.assignees.append(login)
        self._store.touch(issue)
        return json_response(issue.render(_api(request)), 201)

    async def list_comments(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        rows = issue.comments
        since = request.query.get("since")
        if since:
            try:
                moment = datetime.fromisoformat(since)
            except ValueError:
                raise _invalid("IssueComment", "since", "invalid", since) from None
            rows = [c for c in rows if c.updated >= moment.astimezone(UTC)]
        page, headers = _paged(request, rows, f"/repositories/{REPO_ID}/issues/{issue.number}/comments")
        return _with(json_response([c.render(_api(request)) for c in page]), headers)

    async def create_comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        text = (await _json_object(request)).get("body")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("IssueComment", "body", "missing_field")
        if len(text) > _BODY_MAX:
            raise _invalid("IssueComment", "body", "custom")
        comment = self._store.comment(issue, ACCOUNT, text)
        response = json_response(comment.render(_api(request)), 201)
        response.headers["Location"] = comment.render(_api(request))["url"]
        return response

    async def get_comment(self, request: web.Request) -> web.Response:
        _repository(request)
        comment_id = strict_int(request.match_info["id"])
        comment = self._store.comment_by_id(comment_id) if comment_id is not None else None
        if comment is None:
            raise _error(404, "Not Found")
        return json_response(comment.render(_api(request)))

    def _issue(self, request: web.Request) -> _Issue:
        _repository(request)
        number = strict_int(request.match_info["number"])
        issue = self._store.issue(number) if number is not None else None
        if issue is None:
            raise _error(404, "Not Found")
        if issue.deleted:
            raise _error(410, "This issue was deleted")
        return issue


def _repository(request: web.Request) -> None:
    info = request.match_info
    if "repo_id" in info:
        known = info["repo_id"] == str(REPO_ID)
    else:
        known = (info["owner"].lower(), info["repo"].lower()) == (OWNER, REPO)
    if not known:
        raise _error(404, "Not Found")


def _api(request: web.Request) -> str:
    return str(request.url.origin()) + BASE_PATH


def _with(response: web.Response, headers: dict[str, str]) -> web.Response:
    response.headers.update(headers)
    return response


def create_app(*, token: str = DEMO_TOKEN, clock: Clock = utc_now, seed: bool = True,
               rate_limit: int = 5000) -> web.Application:
    store = GithubStore(clock)
    if seed:
        store.seed_default()
    return build_app(store, _Api(store).routes(), guards=[_gatekeeper(token, _Quota(rate_limit, clock))])


def env(base_url: str) -> dict[str, str]:
    return {"GITHUB_BASE_URL": base_url, "GITHUB_TOKEN": DEMO_TOKEN, "GITHUB_OWNER": OWNER,
            "GITHUB_REPO": REPO, "GITHUB_LOGIN": ACCOUNT}
