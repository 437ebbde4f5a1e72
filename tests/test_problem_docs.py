"""Every problem `type` the gateway can answer resolves to its documentation."""

from __future__ import annotations

from yarl import URL

from gateway import errors
from gateway.emulators import FAULTS
from gateway.problem_docs import problem_docs_path, read_problem_docs
from tests.conftest import AUTH


def _problem_types() -> set[str]:
    found, todo = set(), [errors.Problem]
    while todo:
        cls = todo.pop()
        found.add(cls.type_)
        todo += cls.__subclasses__()
    return found | {"http-error"}  # aiohttp's own refusals (405 …), typed in the server


def test_every_problem_type_has_a_section():
    sections = read_problem_docs(problem_docs_path())
    assert _problem_types() - set(sections) == set()


async def test_a_failed_calls_type_resolves_to_its_documentation(gateway, emulators):
    emulators.apps["storeden"][FAULTS].add("malformed")
    response = await gateway.get("/v1/storeden/chats", headers=AUTH)
    assert response.status == 502
    problem = await response.json()
    # a relative reference, resolved against the URL that answered it (RFC 3986)
    followed = await gateway.session.get(
        gateway.make_url("/v1/storeden/chats").join(URL(problem["type"])))
    assert followed.status == 200
    assert followed.content_type == "text/markdown"
    text = await followed.text()
    assert text.startswith("## upstream-unreadable\n") and "**502.**" in text


async def test_every_type_is_served_and_an_unknown_one_is_404(gateway):
    for name in sorted(_problem_types()):
        response = await gateway.get(f"/problems/{name}")
        assert response.status == 200, name
        assert (await response.text()).startswith(f"## {name}\n")
    missing = await gateway.get("/problems/no-such-type")
    assert missing.status == 404
    assert (await missing.json())["type"] == "/problems/not-found"
