"""Text from outside (file names, decoded token fields, git output) made safe to print.

A file name or a macaroon identifier can hold ESC, a carriage return or a
bidirectional override; printed raw they rewrite the terminal or reorder what
the reader sees. They are shown as Python-style escapes instead.
"""

from __future__ import annotations

import re

__all__ = ["escape"]

#: C0 and C1 controls and DEL, the line/paragraph separators, the bidi
#: controls, and lone surrogates (an undecodable byte under ``surrogateescape``).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _one(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1] if code < 0x100 else f"\\u{code:04x}"


def escape(s: str) -> str:
    """``s`` with every control character shown as an escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    return _UNSAFE.sub(_one, s)
