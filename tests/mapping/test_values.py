"""Upstream value conversions: one table of dates, one of scalars."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from gateway.mapping.values import CONVERTERS, ConversionError

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
