"""Times as the service's pages say them and read them: in the course's time zone (serve.toml's
``time_zone``), in words ("31 Dec 2099, 23:59 CET"), and a deadline typed in a date-time
field (no zone: the course's) or in ISO 8601 with its own offset."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.classroom.late import PolicyError, in_words, parse_time
from grader.serve import db

UTC = ZoneInfo("UTC")
LOCAL_INPUT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?")  # <input type=datetime-local>


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` ("Europe/Paris"); ValueError saying what to write."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone {name!r} is no IANA time zone: write one such as "
                         "\"Europe/Paris\", \"America/New_York\" or \"UTC\"") from None


def say(value: Any, tz: dt.tzinfo = UTC) -> str:
    """A time in words in ``tz``: "31 Dec 2099, 23:59 UTC" ("" for none)."""
    t = db.aware(value) if isinstance(value, dt.datetime) else value
    if not isinstance(t, dt.datetime):
        return ""
    return in_words(t.astimezone(tz))


def say_deadline(deadline: str, tz: dt.tzinfo = UTC) -> str:
    """A deadline (ISO 8601, "" for none) as every page shows it."""
    return say(parse_time(deadline), tz) if deadline else "none"


def local_input(value: Any, tz: dt.tzinfo = UTC) -> str:
    """A time as a date-time field's value in ``tz`` ("2099-12-31T23:59")."""
    t = db.aware(value) if isinstance(value, dt.datetime) else None
    return t.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if t is not None else ""


def read_deadline(text: str, tz: dt.tzinfo = UTC) -> dt.datetime:
    """A deadline typed by an instructor: a date-time field's value, taken in ``tz``, or ISO
    8601 with its own offset; PolicyError saying what to write."""
    text = text.strip()
    if LOCAL_INPUT.fullmatch(text):
        try:
            naive = dt.datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError(f"the new deadline {text!r} is no date and time") from None
        return naive.replace(tzinfo=tz)
    return parse_time(text, what="the new deadline")
