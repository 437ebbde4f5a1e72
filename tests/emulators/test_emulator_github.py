"""GitHub emulator: issues and comments, Link-header paging, GitHub's error bodies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.emulators import STORE
from gateway.emulators.github import ACCOUNT, REPO_ID

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


@pytest.fixture
async def client(make_client: Any) -> Any:
    return await make_client("github")


@pytest.fixture
def headers(auth: dict[str, dict[str, str]]) -> dict[str, str]:
    return auth["github"]


def links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


@pytest.mark.parametrize("auth_header,message", [
    (None, "Requires authentication"), ("Bearer ghp_wrong", "Bad credentials"),
], ids=["missing", "wrong"])
async def test_unauthenticated(client: Any, auth_header: str | None, message: str) -> None:
    response = await client.get("/user", headers={"Authorization": auth_header} if auth_header else {})
    assert response.status == 401
    assert await response.json() == {"message": message, "documentation_url": "https://docs.github.com/rest",
                                      "status": "401"}


async def test_me_and_rate_headers(client: Any, headers: dict[str, str]) -> None:
    response = await client.get("/user", headers=headers)
    assert response.status == 200 and (await response.json())["login"] == ACCOUNT
    assert response.headers["X-RateLimit-Remaining"] == "4999"
    assert (await client.get("/user", headers={**headers, "X-GitHub-Api-Version": "1999-01-01"})).status == 400


async def test_comments_walk_by_link_header(client: Any, headers: dict[str, str], aiohttp_client: Any) -> None:
    response = await client.get("/repos/acme/support/issues/1/comments", headers=headers)
    ids = [c["id"] for c in await response.json()]
    assert len(ids) == 30 and ids == sorted(ids)  # oldest first, by ascending id
    rels = links(response)
    assert set(rels) == {"next", "last"}
    while "next" in rels:
        assert rels["next"].startswith(f"http://{client.host}:{client.port}/repositories/{REPO_ID}/issues/1/comments")
        response = await client.get(rels["next"].split(str(client.port), 1)[1], headers=headers)
        ids += [c["id"] for c in await response.json()]
        rels = links(response)
    assert set(rels) == {"prev", "first"}
    assert [str(i) for i in reversed(ids)] == client.app[STORE].message_ids_newest_first("1")


async def test_issues_newest_first_with_pull_requests(client: Any, headers: dict[str, str]) -> None:
    response = await client.get("/repos/acme/support/issues", params={"state": "all", "per_page": "3"},
                                headers=headers)
    issues = await response.json()
    assert [str(i["number"]) for i in issues] == client.app[STORE].chat_ids()[:3]
    assert "pull_request" in next(i for i in issues if i["number"] == 4)
    assert "state=all" in links(response)["next"] and issues[0]["created_at"].endswith("Z")
    default = await (await client.get("/repos/acme/support/issues", headers=headers)).json()
    assert all(i["state"] == "open" for i in default) and 6 not in [i["number"] for i in default]


@pytest.mark.parametrize("path,status,message", [
    ("/repos/acme/support/issues/999", 404, "Not Found"),
    ("/repos/acme/other/issues/1", 404, "Not Found"),
    ("/repos/acme/support/issues/6", 410, "This issue was deleted"),
    ("/repos/acme/support/issues/6/comments", 410, "This issue was deleted"),
    ("/repos/acme/support/issues?state=bogus", 422, "Validation Failed"),
], ids=["no-issue", "no-repo", "deleted", "deleted-comments", "bad-state"])
async def test_errors(client: Any, headers: dict[str, str], path: str, status: int, message: str) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == status and (await response.json())["message"] == message


async def test_comment_close_assign(client: Any, headers: dict[str, str]) -> None:
    response = await client.post("/repos/acme/support/issues/5/comments", json={"body": "On it 👀"}, headers=headers)
    assert response.status == 201
    comment = await response.json()
    assert comment["user"]["login"] == ACCOUNT and response.headers["Location"].endswith(str(comment["id"]))
    assert client.app[STORE].message_ids_newest_first("5") == [str(comment["id"])]
    empty = await client.post("/repos/acme/support/issues/5/comments", json={"body": ""}, headers=headers)
    assert empty.status == 422 and (await empty.json())["errors"][0]["field"] == "body"
    closed = await (await client.patch("/repos/acme/support/issues/5", json={"state": "closed"},
                                       headers=headers)).json()
    assert closed["state"] == "closed" and closed["closed_at"].endswith("Z") and closed["state_reason"] == "completed"
    bad = await client.patch("/repos/acme/support/issues/5", json={"state": "done"}, headers=headers)
    assert bad.status == 422
    assigned = await client.post("/repos/acme/support/issues/2/assignees",
                                 json={"assignees": ["mona-support", "stranger"]}, headers=headers)
    assert assigned.status == 201
    assert [a["login"] for a in (await assigned.json())["assignees"]] == ["mona-support"]  # no push access: ignored


async def test_single_comment(client: Any, headers: dict[str, str]) -> None:
    newest = client.app[STORE].message_ids_newest_first("2")[0]
    comment = await (await client.get(f"/repos/acme/support/issues/comments/{newest}", headers=headers)).json()
    assert str(comment["id"]) == newest and comment["issue_url"].endswith("/issues/2")
    assert (await client.get("/repos/acme/support/issues/comments/1", headers=headers)).status == 404


async def test_rate_limit_is_403_with_remaining_zero(make_client: Any, headers: dict[str, str]) -> None:
    client = await make_client("github", rate_limit=2)
    for _ in range(2):
        assert (await client.get("/user", headers=headers)).status == 200
    response = await client.get("/user", headers=headers)
    assert response.status == 403 and response.headers["X-RateLimit-Remaining"] == "0"
    assert (await response.json())["message"].startswith("API rate limit exceeded")
