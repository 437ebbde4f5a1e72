"""Read a YAML file into plain data while remembering the line of every value.

`load_yaml()` returns a `Source`: the data (dicts, lists, scalars) with `${VAR}` and
`${VAR:-default}` expanded from the environment, and `line_of(path)` for any path
into it, so a schema or mapping error can say `file:line path: message`.

Every `${VAR}` may instead be given as `VAR_FILE`, the path of a file whose content
(trimmed) is the value: how Docker and Kubernetes secrets are mounted. An unset
variable without a default is an error; all of a file's unset variables are reported
together (`defer_missing=True` leaves that to the caller, which may first decide that
some of them do not matter: see `config/optional.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["Source", "Missing", "load_yaml", "parse_yaml", "format_path"]

_VAR = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SCALAR_TYPES = (int, float, bool, type(None))


def format_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Missing:
    """An unset environment variable, and where the file needs it."""

    name: str
    path: tuple[Any, ...]


@dataclass
class Source:
    file: str
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)
    text: str = ""
    missing: list[Missing] = field(default_factory=list)

    def raise_missing(self, ignore: Callable[[tuple[Any, ...]], bool] = lambda path: False
                      ) -> None:
        """One error naming every unset variable (except where `ignore(path)`), if any."""
        errors = [self.error(m.path, f"environment variable {m.name} is not set (set it or "
                                     f"{m.name}_FILE, or write ${{{m.name}:-default}})")
                  for m in self.missing if not ignore(m.path)]
        if errors:
            raise _all_of(errors)

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line_of(path),
                           path=format_path(path))


def _all_of(errors: list[ConfigError]) -> ConfigError:
    """The first error, reading as all of them (one `file:line path: message` per line)."""
    first = errors[0]
    combined = ConfigError(first.message, file=first.file, line=first.line, path=first.path)
    combined.args = ("\n".join(str(e) for e in errors),)
    return combined


def load_yaml(path: str | Path, env: Mapping[str, str], *, display: str | None = None,
              defer_missing: bool = False) -> Source:
    file = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    return parse_yaml(text, env, file=file, defer_missing=defer_missing)


def parse_yaml(text: str, env: Mapping[str, str], *, file: str,
               defer_missing: bool = False) -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=file,
                          line=line) from exc
    source = Source(file=file, data=None, text=text)
    source.data = _build(node, (), source, env) if node is not None else {}
    if not defer_missing:
        source.raise_missing()
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
    assert isinstance(node, yaml.ScalarNode)
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
        if f"{name}_FILE" in env:
            return _read_secret(env[f"{name}_FILE"], f"{name}_FILE", path, source)
        if default is not None:
            return default
        source.missing.append(Missing(name, path))
        return ""

    return _VAR.sub(repl, value)


def _read_secret(file: str, variable: str, path: tuple[Any, ...], source: Source) -> str:
    try:
        return Path(file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise source.error(path, f"cannot read {variable}={file}: {reason}") from None
