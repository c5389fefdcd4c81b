"""Durations as written in the catalog and the API: `500ms`, `10s`, `1m`, `15m`, `1h`, `1d` (and `-15m`)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(-?)(\d+)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
          "h": timedelta(hours=1), "d": timedelta(days=1)}


MAX_LENGTH = 32  # characters; nothing longer is a duration


def quoted(value: object, limit: int = 80) -> str:
    """The repr of a value as a message may quote it: at most a short prefix."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}\u2026 ({len(str(value)):,} characters)"


def parse_duration(text: str, *, allow_negative: bool = False) -> timedelta:
    """`15m` -> timedelta(minutes=15); raises ValueError with the accepted forms."""
    match = _DURATION.match(text) if isinstance(text, str) and len(text) <= MAX_LENGTH else None
    if match is None or (match.group(1) and not allow_negative):
        raise ValueError(f"{quoted(text)} is not a duration like 10s, 1m, 15m, 1h or 1d")
    sign, count, unit = match.groups()
    value = int(count) * _UNITS[unit]
    if not sign and value <= timedelta(0) and not (allow_negative and value == timedelta(0)):
        raise ValueError(f"{quoted(text)}: a duration must be positive")
    return -value if sign else value


def format_duration(value: timedelta) -> str:
    """The shortest catalog spelling of a duration."""
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    for unit in ("d", "h", "m", "s", "ms"):
        count, rest = divmod(value, _UNITS[unit])
        if not rest:
            return f"{sign}{count}{unit}"
    raise ValueError(f"{value} is not a whole number of milliseconds")
