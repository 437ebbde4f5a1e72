"""Conversions of upstream values into canonical ones (`as:` in a field spec)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

__all__ = ["CONVERTERS", "BOOLEAN_TEXT", "format_datetime", "parse_datetime", "iso_utc",
           "ConversionError"]

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}
# What `boolean` gives for these exact texts (generated mappers read them in place).
BOOLEAN_TEXT = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}


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


def _epoch(scale: int) -> Callable[[Any, tzinfo, str | None], str | None]:
    def convert(value: Any, zone: tzinfo, fmt: str | None = None) -> str | None:
        if value is None or value == "":
            return None
        fast = _epoch_utc(value, scale)
        if fast is not None:
            return fast
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"not an epoch timestamp: {value!r}") from exc
        return format_datetime(datetime.fromtimestamp(number / scale, tz=timezone.utc))
    return convert


# Below 2**32 seconds a float's error is under half a microsecond, so the general path's
# `float(value) / scale` rounds back to the exact count this fast path reads.
_EPOCH_FAST_SECONDS = 2**32
_EPOCH = datetime(1970, 1, 1)
_HOUR, _MINUTE = timedelta(hours=1), timedelta(minutes=1)
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


def _epoch_utc(value: Any, scale: int) -> str | None:
    """What the general epoch path gives for a non-negative whole count (an `int`, or
    ASCII digits) below 2**32 seconds, read without floats or datetimes: the hour's text
    is cached. None: the general path decides."""
    if type(value) is not int:
        if type(value) is not str or not (len(value) < 20 and value.isascii()
                                           and value.isdigit()):
            return None
        value = int(value)
    seconds, part = divmod(value, scale)
    if value < 0 or seconds >= _EPOCH_FAST_SECONDS:
        return None
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    text = f"{_epoch_hour(hour)}:{_TWO_DIGITS[minute]}:{_TWO_DIGITS[second]}"
    if part:  # `scale` is a power of ten: `str(scale + part)` holds its digits, zero-padded
        text += "." + str(scale + part)[1:].rstrip("0")
    return text + "Z"


@lru_cache(maxsize=1024)
def _epoch_hour(hour: int) -> str:
    """`YYYY-MM-DDTHH` of the hour that many hours after 1970-01-01T00Z."""
    return (_EPOCH + timedelta(hours=hour)).isoformat()[:13]


def _datetime(value: Any, zone: tzinfo, fmt: str | None = None) -> str | None:
    if fmt is None and type(value) is str:
        fast = iso_utc(value, zone)
        if fast is not None:
            return fast
    parsed = parse_datetime(value, zone, fmt)
    return None if parsed is None else format_datetime(parsed)


def iso_utc(text: str, zone: tzinfo) -> str | None:
    """What `format_datetime(parse_datetime(text, zone))` gives, for the common ISO text
    (`YYYY-MM-DD?HH:MM:SS`, a fraction, then `Z`, `+hh:mm`, `+hhmm` or nothing), without
    the aware datetimes that cost most of it: its UTC date and hour come from a memo per
    (local hour, suffix or zone offset) that checks them once; minutes and seconds (each
    below 60) and the fraction (ASCII digits) are checked here and copied. Only a date
    without a suffix is read whole, for its zone's offset at that time. None: the general
    path decides (and words any error)."""
    size = len(text)
    if size < 19 or text[13] != ":" or text[16] != ":":
        return None
    if size == 19 or text[19] not in ".,":
        suffix, fraction = text[19:], ""
    else:
        if text[-1] == "Z":
            cut = size - 1
        elif text[-6] in "+-" and text[-3] == ":":
            cut = size - 6
        elif text[-5] in "+-":
            cut = size - 5
        else:
            cut = size
        suffix, digits = text[cut:], text[20:cut]
        if not (digits.isdigit() and digits.isascii()):
            return None
        fraction = digits[:6].rstrip("0")
    clock = text[13:19]
    if clock not in _CLOCK:
        return None
    if suffix:
        key: tuple[str, Any] = (text[:13], suffix)
    else:
        try:
            key = (text[:13], zone.utcoffset(datetime.fromisoformat(text[:19])))
        except ValueError:
            return None
    head = _UTC_HEADS.get(key, _MISSING)
    if head is _MISSING:
        head = _remember(key, _utc_head(*key))
    if head == "":  # an offset of whole minutes: the minute moves too
        key = (text[:16], key[1])
        head = _UTC_HEADS.get(key, _MISSING)
        if head is _MISSING:
            head = _remember(key, _utc_head(*key))
    if head is None:
        return None
    time = clock[len(head) - 13:]
    return f"{head}{time}.{fraction}Z" if fraction else f"{head}{time}Z"


def _utc_head(local: str, offset: str | timedelta | None) -> str | None:
    """The UTC text of a local `YYYY-MM-DD?HH` (or `…HH:MM`) at `offset` (a suffix such as
    `+0200`, checked here with the local text, or the zone's offset): "" when the offset
    moves the minutes of an hour too; None where the general path must decide."""
    if local[4] != "-" or local[7] != "-":
        return None
    probe = local + (":00:00" if len(local) == 13 else ":00")
    try:
        if isinstance(offset, str):
            start = datetime.fromisoformat(probe + offset)
            offset = start.utcoffset()
            start = start.replace(tzinfo=None)
        else:
            start = datetime.fromisoformat(probe)
        if offset is None or start.tzinfo is not None or start.year < 1000:
            return None
        unit = _HOUR if len(local) == 13 else _MINUTE
        if offset % unit:
            return "" if unit is _HOUR else None
        return (start - offset).isoformat()[:len(local)]
    except (ValueError, OverflowError):
        return None


def _remember(key: tuple[str, Any], head: str | None) -> str | None:
    """Keeps `head` for `key`; the memo forgets everything once it is full."""
    if len(_UTC_HEADS) >= _MEMO_SIZE:
        _UTC_HEADS.clear()
    _UTC_HEADS[key] = head
    return head


_MISSING: Any = object()  # not yet in the memo (None is a value there)
_MEMO_SIZE = 4096
_CLOCK = frozenset(f":{minute:02d}:{second:02d}" for minute in range(60) for second in range(60))
_UTC_HEADS: dict[tuple[str, Any], str | None] = {}


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
    "epoch_ms": _epoch(1000),
    "epoch_s": _epoch(1),
    "list": _list,
}
