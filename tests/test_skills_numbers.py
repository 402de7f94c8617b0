"""The spoken-number, duration, time-of-day and date parsers every skill uses: tables of cases."""
import datetime as dt

import pytest

from assistant.skills.dates import parse_date
from assistant.skills.numbers import (format_clock, format_duration, format_number, parse_duration,
                                      parse_number, parse_time_of_day, take_number, words)
from assistant.skills.places import find_place

NUMBERS = [
    ("seventeen", 17), ("twenty one", 21), ("twenty-one", 21), ("ninety nine", 99), ("a hundred", 100),
    ("one hundred and five", 105), ("a hundred and five", 105), ("three hundred forty two", 342),
    ("two thousand and twenty six", 2026), ("a thousand", 1000), ("one million two hundred thousand", 1_200_000),
    ("2.5", 2.5), ("two point five", 2.5), ("three point one four", 3.14), ("1,000", 1000), ("3 thousand", 3000),
    ("minus three", -3), ("negative seven", -7), ("zero", 0), ("42", 42),
    ("one two", None), ("banana", None), ("", None), ("twenty twenty", None),
]


@pytest.mark.parametrize("text,expected", NUMBERS)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_take_number_reads_ordinals_only_when_asked():
    assert take_number(words("twentieth"), 0) == (20, 1, True)
    assert take_number(words("twenty first of may"), 0) == (21, 2, True)
    assert take_number(words("5th"), 0) == (5, 1, True)
    assert take_number(words("second"), 0, ordinals=False) is None
    assert take_number(words("one two"), 0) == (1, 1, False)  # two numbers, as a listener hears them


DURATIONS = [
    ("five minutes", 300), ("an hour and a half", 5400), ("ninety seconds", 90), ("2 minutes 30 seconds", 150),
    ("2 minutes and 30 seconds", 150), ("two minutes thirty", 150), ("half an hour", 1800),
    ("a quarter of an hour", 900), ("three quarters of an hour", 2700), ("a minute and a half", 90),
    ("one and a half hours", 5400), ("1.5 hours", 5400), ("5 min", 300), ("10mins", 600), ("an hour", 3600),
    ("for 20 seconds", 20), ("two hours fifteen minutes", 8100), ("a day", 86400),
    ("five", None), ("pasta", None), ("", None), ("five six", None),
]


@pytest.mark.parametrize("text,expected", DURATIONS)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


TIMES = [
    ("seven thirty am", (7, 30, True)), ("five pm", (17, 0, True)), ("5pm", (17, 0, True)),
    ("5 p.m.", (17, 0, True)), ("noon", (12, 0, True)), ("midnight", (0, 0, True)),
    ("half past six", (6, 30, False)), ("six", (6, 0, False)), ("quarter to eight", (7, 45, False)),
    ("quarter past nine", (9, 15, False)), ("twenty to five", (4, 40, False)), ("ten past nine in the evening", (21, 10, True)),
    ("six in the morning", (6, 0, True)), ("19:45", (19, 45, True)), ("7:30am", (7, 30, True)),
    ("seven oh five", (7, 5, False)), ("twenty one fifteen", (21, 15, True)), ("at 6 o'clock", (6, 0, False)),
    ("twelve thirty", (12, 30, False)), ("eleven at night", (23, 0, True)),
    ("banana", None), ("ten minutes", None), ("25:00", None), ("seven seventy", None),
]


@pytest.mark.parametrize("text,expected", TIMES)
def test_parse_time_of_day(text, expected):
    got = parse_time_of_day(text)
    assert (got.hour, got.minute, got.certain) == expected if expected else got is None


def test_uncertain_time_has_morning_and_evening_readings():
    assert parse_time_of_day("six").readings() == [(6, 0), (18, 0)]
    assert parse_time_of_day("twelve thirty").readings() == [(0, 30), (12, 30)]
    assert parse_time_of_day("five pm").readings() == [(17, 0)]


TODAY = dt.date(2026, 12, 7)  # a Monday
DATES = [
    ("christmas", dt.date(2026, 12, 25)), ("new year", dt.date(2027, 1, 1)), ("new year's eve", dt.date(2026, 12, 31)),
    ("march fifth", dt.date(2027, 3, 5)), ("the twentieth of july", dt.date(2027, 7, 20)),
    ("july 4th", dt.date(2027, 7, 4)), ("5 march 2027", dt.date(2027, 3, 5)), ("december the 10th", dt.date(2026, 12, 10)),
    ("friday", dt.date(2026, 12, 11)), ("monday", TODAY), ("next monday", dt.date(2026, 12, 14)),
    ("tomorrow", dt.date(2026, 12, 8)), ("today", TODAY), ("the day after tomorrow", dt.date(2026, 12, 9)),
    ("in three days", dt.date(2026, 12, 10)), ("the fifth", dt.date(2027, 1, 5)), ("easter", dt.date(2027, 3, 28)),
    ("thanksgiving", dt.date(2027, 11, 25)), ("christmas 2030", dt.date(2030, 12, 25)),
    ("march twenty first twenty twenty eight", dt.date(2028, 3, 21)), ("2027-01-02", dt.date(2027, 1, 2)),
    ("february thirtieth", None), ("banana", None), ("five", None),
    # a part of the day or a possessive does not change the day
    ("tomorrow morning", dt.date(2026, 12, 8)), ("tomorrows", dt.date(2026, 12, 8)),
    ("friday in the evening", dt.date(2026, 12, 11)), ("next monday night", dt.date(2026, 12, 14)),
    ("tonight", TODAY), ("morning", None),
]


@pytest.mark.parametrize("text,expected", DATES)
def test_parse_date(text, expected):
    got = parse_date(text, TODAY)
    assert (got.date if got else None) == expected


@pytest.mark.parametrize("text,zone,name", [
    ("tokyo", "Asia/Tokyo", "Tokyo"), ("new york", "America/New_York", "New York"), ("in paris", "Europe/Paris", "Paris"),
    ("japan", "Asia/Tokyo", "Japan"), ("texas", "America/Chicago", "Texas"), ("pst", "America/Los_Angeles", "Pacific time"),
    ("utc", "UTC", "UTC"), ("Asia/Kolkata", "Asia/Kolkata", "Kolkata"), ("the uk", "Europe/London", "the UK"),
])
def test_find_place(text, zone, name):
    place = find_place(text)
    assert (str(place.zone), place.name) == (zone, name)


def test_unknown_place_and_several_zones():
    assert find_place("narnia") is None
    assert find_place("australia").note == "Australia has several time zones"


@pytest.mark.parametrize("value,text", [(68, "68"), (8.04672, "8.05"), (1 / 3, "0.33"), (0.001234, "0.00123"),
                                        (1_250_000, "1,250,000"), (2.5, "2.5"), (-4.0, "-4"), (709.7647, "709.76")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_duration_and_clock():
    assert format_duration(300) == "5 minutes"
    assert format_duration(300, adjective=True) == "5 minute"
    assert format_duration(5400) == "1 hour and 30 minutes"
    assert format_duration(90) == "1 minute and 30 seconds"
    assert format_duration(3725) == "1 hour and 2 minutes"  # seconds dropped once hours are said
    assert format_clock(20, 42) == "8:42 PM"
    assert format_clock(0, 5) == "12:05 AM"
    assert format_clock(12, 0) == "12:00 PM"
