"""Conversions of upstream values into canonical ones (`as:` in a field spec)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

__all__ = ["CONVERTERS", "format_datetime", "parse_datetime", "ConversionError"]

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


class ConversionError(ValueError):
    pass


def format_datetime(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None or value.year < 1000:  # naive (local time), or a year strftime writes short
        value = value.astimezone(timezone.utc)
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
    else:  # the fast path: the same instant's UTC wall time, cut from isoformat
        if offset:
            value -= offset
        text = value.isoformat()[:19]
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_datetime(value: Any, zone: tzinfo, fmt: str | None = None) -> datetime | None:
    """Read an upstream date: ISO 8601 with `Z`, `+02:00` or `+0200`, up to seven
    fractional digits, or zone-less (then read in the upstream's configured `zone`)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConversionError(f"expected a date string, got {type(value).__name__}")
    text = value.strip()
    try:
        if fmt:
            parsed = datetime.strptime(text, fmt)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConversionError(f"not a date: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _epoch(scale: float) -> Callable[[Any, tzinfo, str | None], str | None]:
    def convert(value: Any, zone: tzinfo, fmt: str | None = None) -> str | None:
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"not an epoch timestamp: {value!r}") from exc
        return format_datetime(datetime.fromtimestamp(number / scale, tz=timezone.utc))
    return convert


def _datetime(value: Any, zone: tzinfo, fmt: str | None = None) -> str | None:
    if fmt is None and type(value) is str:
        fast = _iso_utc(value, zone)
        if fast is not None:
            return fast
    parsed = parse_datetime(value, zone, fmt)
    return None if parsed is None else format_datetime(parsed)


def _iso_utc(text: str, zone: tzinfo) -> str | None:
    """What `format_datetime(parse_datetime(text, zone))` gives, for the common ISO text
    (a time, then `Z`, `+hh:mm`, `+hhmm` or nothing), without the aware datetimes that
    cost most of it: the wall time is read naive and its offset subtracted. None: the
    general path decides (and words any error)."""
    if len(text) < 19:
        return None
    if text[-1] == "Z":
        cut = len(text) - 1
    elif text[-6] in "+-" and text[-3] == ":":
        cut = len(text) - 6
    elif text[-5] in "+-":
        cut = len(text) - 5
    else:
        cut = len(text)
    try:
        local = datetime.fromisoformat(text[:cut])
        offset = zone.utcoffset(local) if cut == len(text) else _offset(text[cut:])
        if offset is None or local.tzinfo is not None or local.year < 1000:
            return None
        utc = local - offset
    except (ValueError, OverflowError):
        return None
    iso = utc.isoformat()
    return (iso.rstrip("0") if utc.microsecond else iso) + "Z"


@lru_cache(maxsize=256)
def _offset(suffix: str) -> timedelta | None:
    """A UTC offset as written after a time (`Z`, `+02:00`, `-0530`), None if it is not one."""
    try:
        return datetime.fromisoformat("2000-01-01T00:00:00" + suffix).utcoffset()
    except ValueError:
        return None


def _string(value: Any, zone: tzinfo, fmt: str | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConversionError(f"expected a scalar, got {type(value).__name__}")


def _integer(value: Any, zone: tzinfo, fmt: str | None = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConversionError("expected an integer, got a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"not an integer: {value!r}") from exc
    if not number.is_integer():
        raise ConversionError(f"not an integer: {value!r}")
    return int(number)


def _boolean(value: Any, zone: tzinfo, fmt: str | None = None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        try:  # a count held as text, as XML holds every number: non-zero is true
            return float(lowered) != 0
        except ValueError:
            pass
    raise ConversionError(f"not a boolean: {value!r}")


def _list(value: Any, zone: tzinfo, fmt: str | None = None) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _keep(value: Any, zone: tzinfo, fmt: str | None = None) -> Any:
    return value


CONVERTERS: dict[str, Callable[[Any, tzinfo, str | None], Any]] = {
    "any": _keep,
    "string": _string,
    "integer": _integer,
    "boolean": _boolean,
    "datetime": _datetime,
    "epoch_ms": _epoch(1000.0),
    "epoch_s": _epoch(1.0),
    "list": _list,
}
