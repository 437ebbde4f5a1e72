"""The documentation a problem's `type` resolves to: `GET /problems/{name}`.

Read once from docs/problems.md (bundled into the wheel), one `## name` section per
problem type; served as Markdown, so the URI in every problem+json answer leads to what
it means and what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

__all__ = ["problem_docs_path", "read_problem_docs", "ProblemDocs"]


def problem_docs_path() -> Path:
    package = Path(__file__).resolve().parent
    bundled = package / "_bundled" / "problems.md"
    return bundled if bundled.is_file() else package.parent / "docs" / "problems.md"


def read_problem_docs(path: Path) -> dict[str, str]:
    """Problem type name -> its Markdown section (heading included)."""
    text = path.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=## )", text)
    return {section.split("\n", 1)[0][3:].strip(): section.strip() + "\n"
            for section in sections if section.startswith("## ")}


class ProblemDocs:
    def __init__(self, sections: dict[str, str]) -> None:
        self._sections = sections

    async def handle(self, request: web.Request) -> web.Response:
        section = self._sections.get(request.match_info["problem_type"])
        if section is None:
            raise web.HTTPNotFound()
        return web.Response(text=section, content_type="text/markdown")
