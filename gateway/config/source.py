"""Read a YAML file into plain data while remembering the line of every value.

`load_yaml()` returns a `Source`: the data (dicts, lists, scalars) with `${VAR}` and
`${VAR:-default}` expanded from the environment, and `line_of(path)` for any path
into it, so a schema or mapping error can say `file:line path: message`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["Source", "load_yaml", "format_path"]

_VAR = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SCALAR_TYPES = (int, float, bool, type(None))


def format_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Source:
    file: str
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)
    text: str = ""

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line_of(path),
                           path=format_path(path))


def load_yaml(path: str | Path, env: Mapping[str, str], *, display: str | None = None) -> Source:
    file = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    return parse_yaml(text, env, file=file)


def parse_yaml(text: str, env: Mapping[str, str], *, file: str) -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=file,
                          line=line) from exc
    source = Source(file=file, data=None, text=text)
    source.data = _build(node, (), source, env) if node is not None else {}
    return source


def _build(node: yaml.Node, path: tuple[Any, ...], source: Source, env: Mapping[str, str]) -> Any:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", file=source.file,
                                  line=key_node.start_mark.line + 1, path=format_path(path))
            out[key] = _build(value_node, (*path, key), source, env)
            source.lines[(*path, key)] = key_node.start_mark.line + 1  # the key's own line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), source, env) for i, item in enumerate(node.value)]
    value = node.value  # the scalar's text as written
    if "${" not in value:
        return _plain_scalar(node)
    expanded = _expand(value, path, source, env)
    if node.style is None:  # unquoted: "${PORT}" may stand for a number or a boolean
        try:
            typed = yaml.safe_load(expanded)
        except yaml.YAMLError:
            typed = expanded
        if isinstance(typed, _SCALAR_TYPES) and expanded.strip():
            return typed
    return expanded


def _plain_scalar(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _expand(value: str, path: tuple[Any, ...], source: Source, env: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise source.error(path, f"environment variable {name} is not set "
                                 f"(write ${{{name}:-default}} to make it optional)")

    return _VAR.sub(repl, value)
