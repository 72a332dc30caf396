"""Echoes of user input in messages: escaped like ``repr`` and cut short.

A message may go to logs and, after the usual escaping, to Slack, so no echo carries a control
character or a lone surrogate, and none grows with the input: containers are described, never
rendered, so deep or huge input costs nothing.
"""

from __future__ import annotations

ECHO_LIMIT = 80

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str, quoting: bool) -> str:
    if quoting and ch in "'\\":
        return "\\" + ch
    if ch.isprintable():
        return ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escaped(text: str, limit: int, quoting: bool) -> tuple[str, bool]:
    """``text`` with non-printable characters escaped and cut to ``limit``; was it cut?"""
    pieces: list[str] = []
    used = 0
    for ch in text:
        piece = _escape_char(ch, quoting)
        if used + len(piece) > limit:
            return "".join(pieces), True
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces), False


def plain(text: str, limit: int = 60) -> str:
    """Library error text for a message, escaped and cut short, unquoted."""
    escaped, cut = _escaped(text, limit, quoting=False)
    return escaped + ("…" if cut else "")


def show(value: object, limit: int = ECHO_LIMIT) -> str:
    """Quote a value for a message: escaped like ``repr``, at most about ``limit`` characters."""
    if isinstance(value, str):
        escaped, cut = _escaped(value, limit, quoting=True)
        return f"'{escaped}…' ({len(value)} characters)" if cut else f"'{escaped}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # str() of a huge int raises past Python's digit limit.
        return str(value) if -(10**40) < value < 10**40 else "a number with over 40 digits"
    if isinstance(value, float):
        return repr(value)
    return type_name(value)


def type_name(value: object) -> str:
    """What kind of JSON value ``value`` is, in words: ``a string``, ``an array of 2 items``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"an object with {len(value)} field{'s' if len(value) != 1 else ''}"
    if isinstance(value, bytes | bytearray):
        return "bytes (not JSON; decode them to a string first)"
    kind = type(value).__name__
    return f"a Python {show(kind, 40)} (not a JSON value)"


def described(value: object) -> str:
    """``value`` with its type, for wrong-type messages: ``a number (5)``, ``an array of 2``."""
    if isinstance(value, str | int | float):
        return f"{type_name(value)} ({show(value)})"
    return type_name(value)


def capped(problems: list[str], limit: int, what: str) -> list[str]:
    """At most ``limit`` problems, then one line saying how many more ``what`` not listed."""
    if len(problems) <= limit:
        return problems
    rest = len(problems) - limit
    return [*problems[:limit], f"{rest} more {what} not listed; fix the ones above first."]
