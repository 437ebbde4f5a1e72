"""Collect every config error of one load instead of stopping at the first.

Each part of the config is compiled under `problems.guard()`: an error is recorded and
the load goes on with the next part; `raise_any()` raises them all at the end as one
`ConfigErrors`, sorted by file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match, by_relevance

from ..errors import ConfigError, ConfigErrors
from .source import Source

__all__ = ["Problems", "schema_errors", "under", "validate"]

# an unexpected key says more than the required one it was probably a typo of
_RELEVANCE = by_relevance(strong=frozenset({"additionalProperties"}))


class Problems:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def add(self, error: ConfigError) -> None:
        for one in getattr(error, "errors", None) or [error]:
            if str(one) not in {str(e) for e in self.errors}:
                self.errors.append(one)

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as error:
            self.add(error)

    def raise_any(self) -> None:
        if self.errors:
            order: dict[str | None, int] = {}
            for error in self.errors:
                order.setdefault(error.file, len(order))
            raise ConfigErrors(sorted(self.errors, key=lambda e: (
                order[e.file], e.line or 0, e.path)))


    def schema(self, source: Source, validator: Draft202012Validator) -> list[tuple[Any, ...]]:
        """Record the file's schema errors; the paths they lie in, to leave uncompiled."""
        bad = []
        for error in schema_errors(source, validator):
            self.add(error)
            bad.append(error.where)  # type: ignore[attr-defined]
        return bad

    def part(self, bad: list[tuple[Any, ...]], where: tuple[Any, ...],
             build: Callable[[], Any]) -> Any:
        """`build()` unless a schema error lies at `where`; None when it fails."""
        if under(bad, where):
            return None
        with self.guard():
            return build()
        return None


def schema_errors(source: Source, validator: Draft202012Validator) -> list[ConfigError]:
    """Every place the file breaks its schema, one error each (the most telling of those
    at one place: an unexpected key beats the required one it was a typo of)."""
    by_place: dict[tuple[Any, ...], list[Any]] = {}
    for error in validator.iter_errors(source.data):
        by_place.setdefault(tuple(error.absolute_path), []).append(error)
    out = []
    for path, errors in by_place.items():
        told = [e for e in errors if isinstance(e.schema, dict) and "errorMessage" in e.schema]
        if told:
            out.append(_error(source, path, told[0].schema["errorMessage"]))
            continue
        best = best_match(errors, key=_RELEVANCE)
        out.extend(_located(source, best))
    return out


def _located(source: Source, error: Any) -> list[ConfigError]:
    path = tuple(error.absolute_path)
    if isinstance(error.schema, dict) and "errorMessage" in error.schema:
        return [_error(source, path, error.schema["errorMessage"])]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        return [_error(source, (*path, key), f"{key!r} was unexpected; allowed here: "
                                           f"{', '.join(k for k in allowed if k != 'type')}")
                for key in error.instance if key not in allowed]
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return [_error(source, (*path, missing), error.message)]
    if "propertyNames" in error.absolute_schema_path:  # the offending key itself
        return [_error(source, (*path, error.instance), error.message)]
    return [_error(source, path, error.message)]


def _error(source: Source, path: tuple[Any, ...], message: str) -> ConfigError:
    error = source.error(path, message)
    error.where = path  # type: ignore[attr-defined]  # what is left uncompiled
    return error


def under(bad: list[tuple[Any, ...]], prefix: tuple[Any, ...]) -> bool:
    """Whether a schema error lies in (or above) `prefix`: then it is not compiled."""
    return any(p[:len(prefix)] == prefix or prefix[:len(p)] == p for p in bad)




def validate(source: Source, validator: Draft202012Validator) -> None:
    """Raise every schema error of `source` at once (`ConfigErrors`), if any."""
    errors = schema_errors(source, validator)
    if errors:
        raise ConfigErrors(errors)
