"""Text from outside made safe to print, secrets kept out of it, and children kept clean.

Three guards every face shares, in one place:

* ``escape``: a token's location, a file name, a username on the stand-in or a
  server's reason phrase is chosen by someone else; printed raw, an escape
  sequence in it can move the cursor and forge a line (``issuer: pypi.org``)
  or hide one. Control and formatting characters become ``\\xNN``.
* ``redact``: an index may echo the token it was sent, and a hostile one will
  disguise it: without the ``pypi-`` prefix, split by spaces, line breaks or
  markup (``<wbr>``, ``&shy;``), base64 or hex encoded, reversed, or only a
  part of it. Every such echo of a known secret is cut out: the text is read
  with the noise taken out, and any run of ``WINDOW`` characters found in one
  of the secret's forms is redacted, with the noise inside it.
* ``child_environ``: a user who exported ``TOKEN`` or ``TWINE_PASSWORD`` must
  not hand it to every process the toolkit starts (the stand-in, pip, a fresh
  interpreter): children get an allowlist (where programs and temporary files
  are, the locale, Python's own search path), not the parent's environment
  minus a denylist of names someone remembered.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "WINDOW", "child_environ", "clean", "escape", "redact"]

# --- escape -------------------------------------------------------------------------------

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


# --- redact -------------------------------------------------------------------------------

REDACTED = "…(redacted)"
#: The shortest run of a secret's characters that counts as an echo of it. A
#: PyPI token is 100+ characters; 16 base64 characters are 96 bits, which no
#: unrelated text repeats by chance.
WINDOW = 16
#: Anything shaped like a token: redacted even when it is not one of ours.
_TOKEN_LIKE = re.compile(r"pypi-[A-Za-z0-9_-]{8,}")
#: What an index may put inside an echo without changing it: whitespace, an
#: escaped line break, invisible characters, markup tags and character entities.
_NOISE = re.compile(
    r"\s+|\\[nrt]|<[^<>]{0,200}>|&(?:[A-Za-z]{1,12}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
    r"|[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)


def _forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` an echo may use (substrings are found by windows)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, secret[::-1], raw.hex(), raw.hex().upper()}
    for prefix in (b"", b"__token__:"):
        for pad in range(3):
            data = b"\0" * pad + prefix + raw
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                text = encode(data).decode("ascii").rstrip("=")
                # The first quartet holds the padding bytes: not part of the echo.
                forms.add(text[4:] if pad else text)
    return {form for form in forms if len(form) >= WINDOW}


@functools.lru_cache(maxsize=16)
def _windows(secrets: tuple[str, ...]) -> frozenset[str]:
    """Every ``WINDOW``-long run of every form of ``secrets`` (cached: a run redacts many texts)."""
    grams: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < WINDOW:
            continue
        for form in _forms(secret):
            grams.update(form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1))
    return frozenset(grams)


def _denoised(text: str) -> tuple[str, list[int]]:
    """``text`` without noise, and where each kept character sits in ``text``."""
    kept: list[str] = []
    where: list[int] = []
    pos = 0
    for match in _NOISE.finditer(text):
        for index in range(pos, match.start()):
            kept.append(text[index])
            where.append(index)
        pos = match.end()
    for index in range(pos, len(text)):
        kept.append(text[index])
        where.append(index)
    return "".join(kept), where


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every echo of ``secrets`` cut out, and anything token-shaped shortened.

    Cost is linear in ``len(text)`` (one pass of fixed-width windows);
    callers bound the text they read.
    """
    grams = _windows(tuple(secrets))
    if grams:
        plain, where = _denoised(text)
        spans: list[list[int]] = []
        for i in range(len(plain) - WINDOW + 1):
            if plain[i : i + WINDOW] in grams:
                start, end = where[i], where[i + WINDOW - 1] + 1
                while end < len(text) and end - where[i + WINDOW - 1] <= 2 and text[end] == "=":
                    end += 1  # base64's padding belongs to the echo
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], end)
                else:
                    spans.append([start, end])
        for start, end in reversed(spans):
            text = text[:start] + REDACTED + text[end:]
    return _TOKEN_LIKE.sub(lambda m: m[0][:9] + REDACTED, text)


def clean(text: str, secrets: Iterable[str] = (), *, limit: int = 1000) -> str:
    """What an index said, fit to keep and print: redacted, bounded, one escaped line."""
    text = redact(text, secrets)
    if len(text) > limit:
        text = text[:limit] + "…"
    return escape(text)


# --- child_environ ------------------------------------------------------------------------

_KEEP = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "TEMP",
        "TMP",
        "SYSTEMROOT",
        "COMSPEC",
        "PATHEXT",
        "PYTHONPATH",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONDONTWRITEBYTECODE",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "COVERAGE_PROCESS_START",
    }
)


def child_environ(
    extra: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowlisted part of ``environ`` (default ``os.environ``), plus ``extra``."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k in _KEEP or k.startswith("LC_")}
    env.update(extra or {})
    return env
