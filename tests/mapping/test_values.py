"""Upstream value conversions: one table of dates, one of scalars."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mapping.values import CONVERTERS, ConversionError, format_datetime, parse_datetime

ROME, KYIV, UTC = ZoneInfo("Europe/Rome"), ZoneInfo("Europe/Kyiv"), ZoneInfo("UTC")


@pytest.mark.parametrize("converter,value,zone,expected", [
    ("datetime", "2018-10-11T10:26:18+0200", UTC, "2018-10-11T08:26:18Z"),
    ("datetime", "2018-01-10T11:44:26+0100", UTC, "2018-01-10T10:44:26Z"),
    ("datetime", "2016-07-21T14:13:48.4445574+02:00", UTC, "2016-07-21T12:13:48.444557Z"),
    ("datetime", "2018-10-11T08:26:18Z", ROME, "2018-10-11T08:26:18Z"),
    ("datetime", "2024-03-29 14:45:00", ZoneInfo("Asia/Kolkata"), "2024-03-29T09:15:00Z"),
    ("datetime", "2024-07-01 12:00:00", KYIV, "2024-07-01T09:00:00Z"),   # summer, +03
    ("datetime", "2024-01-01 12:00:00", KYIV, "2024-01-01T10:00:00Z"),   # winter, +02
    ("datetime", "2024-01-01T12:00:00.500+00:00", UTC, "2024-01-01T12:00:00.5Z"),
    ("datetime", "", UTC, None),
    ("datetime", None, UTC, None),
    ("epoch_ms", 1564661697125, UTC, "2019-08-01T12:14:57.125Z"),
    ("epoch_ms", "1564661697000", UTC, "2019-08-01T12:14:57Z"),
    ("epoch_s", 1564661697, UTC, "2019-08-01T12:14:57Z"),
], ids=["plus0200", "plus0100", "seven-digits", "z", "zoneless-ist", "zoneless-summer",
        "zoneless-winter", "fraction", "empty", "null", "epoch-ms", "epoch-ms-text", "epoch-s"])
def test_dates_all_come_out_rfc3339_utc(converter, value, zone, expected):
    assert CONVERTERS[converter](value, zone, None) == expected


def test_date_with_explicit_format():
    assert CONVERTERS["datetime"]("11/10/2018 10:26", ROME, "%d/%m/%Y %H:%M") == \
        "2018-10-11T08:26:00Z"


@pytest.mark.parametrize("converter,value,expected", [
    ("string", 49077, "49077"), ("string", 12.0, "12"), ("string", True, "true"),
    ("string", "x", "x"), ("integer", "5", 5), ("integer", 5.0, 5),
    ("boolean", "0", False), ("boolean", "1", True), ("boolean", 0, False),
    ("boolean", "482", True), ("boolean", "true", True), ("boolean", "", False),
    ("list", None, []), ("list", "a", ["a"]), ("list", ["a"], ["a"]),
], ids=lambda v: repr(v))
def test_scalars(converter, value, expected):
    assert CONVERTERS[converter](value, UTC, None) == expected


@pytest.mark.parametrize("converter,value", [
    ("datetime", "yesterday"), ("datetime", 12345), ("integer", "1.5"), ("integer", True),
    ("boolean", "maybe"), ("string", {"a": 1}), ("epoch_ms", "soon"),
])
def test_unconvertible_values_fail_loudly(converter, value):
    with pytest.raises(ConversionError):
        CONVERTERS[converter](value, UTC, None)


def _general(value: Any, zone: tzinfo) -> Any:
    """The general path, which the fast one for ISO text must equal."""
    try:
        parsed = parse_datetime(value, zone)
        return None if parsed is None else format_datetime(parsed)
    except (ConversionError, OverflowError) as exc:
        return (type(exc).__name__, str(exc))


def _fast(value: Any, zone: tzinfo) -> Any:
    try:
        return CONVERTERS["datetime"](value, zone, None)
    except (ConversionError, OverflowError) as exc:
        return (type(exc).__name__, str(exc))


_DIGITS = st.text("0123456789", min_size=1, max_size=9)
_ISO = st.builds(
    lambda space, year, month, day, sep, time, fraction, suffix, tail: (
        f"{space}{year:04d}-{month:02d}-{day:02d}{sep}{time}{fraction}{suffix}{tail}"),
    st.sampled_from(["", "", " ", "\t"]), st.integers(1, 9999), st.integers(1, 12),
    st.integers(1, 28), st.sampled_from(["T", " ", "x", "", "t"]),
    st.sampled_from(["00:00:00", "23:59:59", "03:30:00", "04:30", "12", "24:00:00", "12:3",
                     "12:60:00", "12:30:60", "12:30:5x", "1\u0663:30:00", "12:\u06630:00",
                     "12:30:0\u0663", "-1:30:00", "12:+3:00"]),
    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d), _DIGITS.map(lambda d: "," + d),
              st.sampled_from([".", ".\u0663", ".1\u0663", ".12x", "..1"])),
    st.one_of(st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+14:00", "-23:59", "+05:30",
                               "+0530", "-0800", "+01", "+01:00:30", "+24:00", "+1:00", "Z+01:00",
                               "+01:00+01:00"]),
              st.text("+-:0123456789Z", max_size=7)),
    st.sampled_from(["", "", " ", "\n"]))


@settings(max_examples=1500, deadline=None)
@given(value=st.one_of(_ISO, st.text(max_size=30)),
       zone=st.sampled_from([UTC, KYIV, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Havana"),
                             timezone(timedelta(hours=-5)), timezone.utc]))
def test_the_fast_date_path_equals_the_general_one(value, zone):
    assert _fast(value, zone) == _general(value, zone)


@pytest.mark.parametrize("value", ["2024-03-31 03:30:00", "2024-10-27 03:30:00",
                                   "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                                   "0999-06-01T12:00:00Z", "1000-01-01T00:30:00+01:00",
                                   "2024-01-01T12:30:00,25+01:00", "2024-01-01T12:30:00.000+0100",
                                   "2024-01-01T12:60:00+0100", "2024-01-01T12:30:60Z",
                                   "2024-01-01T12:30:00.\u0663+0100", "2024-02-30T12:30:00Z",
                                   "2024-01-01T12:30:00+24:00", "2024-01-01T12:30:00.-1+0100"])
def test_dates_at_the_edges_read_as_the_general_path_reads_them(value):
    for zone in (KYIV, UTC, ZoneInfo("America/Havana")):
        assert _fast(value, zone) == _general(value, zone)


@pytest.mark.parametrize("value", ["2024-03-29 14:45:00", "2024-03-29T14:45:00.25+05:30",
                                   "2024-03-29T23:45:00-0030", "2024-03-29T00:15:00+0045",
                                   "1880-01-01T12:00:00", "2024-03-29T14:45:00+01:00:30"])
def test_offsets_of_minutes_and_seconds_read_as_the_general_path_reads_them(value):
    for zone in (ZoneInfo("Asia/Kolkata"), KYIV, ZoneInfo("Australia/Lord_Howe")):
        for _ in range(2):  # the second time from the memo
            assert _fast(value, zone) == _general(value, zone)


def _general_epoch(value: Any, scale: float) -> Any:
    """The general epoch path (floats and an aware datetime), which the fast one equals."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ConversionError.__name__
    try:
        return format_datetime(datetime.fromtimestamp(number / scale, tz=timezone.utc))
    except (OverflowError, OSError, ValueError) as exc:
        return type(exc).__name__


def _fast_epoch(converter: str, value: Any) -> Any:
    try:
        return CONVERTERS[converter](value, UTC, None)
    except ConversionError:
        return ConversionError.__name__
    except (OverflowError, OSError, ValueError) as exc:
        return type(exc).__name__


_COUNTS = st.one_of(
    st.integers(-10**13, 10**13), st.integers(0, 2**32 * 1000 + 5000),
    st.integers(2**32 - 5, 2**32 + 5), st.integers(2**32 * 1000 - 5000, 2**32 * 1000 + 5000),
    st.sampled_from([0, 1, 999, 1000, 1001, 1564661697125, 1564661697000, 10**30]))


@settings(max_examples=1500, deadline=None)
@given(value=st.one_of(_COUNTS, _COUNTS.map(str), _COUNTS.map(lambda n: f"00{n}"),
                                       st.floats(-1e13, 1e13), st.booleans(),
                       st.text("0123456789\u0663+-. ", max_size=14)),
       converter=st.sampled_from(["epoch_ms", "epoch_s"]))
def test_the_fast_epoch_path_equals_the_general_one(value, converter):
    if value == "":
        return  # null, not a count: the table above holds it
    scale = 1000.0 if converter == "epoch_ms" else 1.0
    assert _fast_epoch(converter, value) == _general_epoch(value, scale)
