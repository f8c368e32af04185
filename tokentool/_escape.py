"""One way to print text that came from outside: control characters made visible.

A token's location, a file name, a username on the stand-in or a server's
reason phrase is chosen by someone else; printed raw, an escape sequence in it
can move the cursor and forge a line (``issuer: pypi.org``) or hide one. Every
face of the toolkit passes such text through ``escape`` before printing it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["escape"]

#: Controls, formatting characters that reorder or hide text (bidi overrides,
#: zero-width marks), line/paragraph separators, and lone surrogates.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _visible(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte under ``surrogateescape``: the byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: object) -> str:
    """``text`` as one printable line: control and formatting characters become ``\\xNN``.

    File names read with ``surrogateescape`` show their undecodable bytes as ``\\xNN``.
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(
        _visible(char) if unicodedata.category(char) in _INVISIBLE else char for char in value
    )
