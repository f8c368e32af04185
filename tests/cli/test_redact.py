"""One redactor (``tokentool._safety.redact``) finds a token in any echo an index may make.

Hypothesis builds the echo: the token or its body without ``pypi-``, as Basic
credentials, base64 in either alphabet at any alignment, hex in either case,
or reversed; then splits it with spaces, line breaks, ``<wbr>``, ``&shy;`` or
zero-width marks, and buries it in other text. The check is independent of
the redactor's own windows: once the noise is taken out, no run of 20
characters of the disguised token may remain.
"""

from __future__ import annotations

import base64
import os
import re
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

import tokentool
from tokentool._safety import REDACTED, clean, redact

RUN = 20
NOISE = ["", " ", "\n", "\r\n", "<wbr>", "<wbr/>", "&shy;", "\u200b", "\t", "<span>", "</span>"]
_STRIP = re.compile(r"\s+|<[^<>]*>|&shy;|\u200b")


def _token(domain: str) -> str:
    return tokentool.mint(
        domain=domain, identifier=str(uuid.uuid4()), key=os.urandom(32), user_id=str(uuid.uuid4())
    )


def _disguise(token: str, how: str, pad: int) -> str:
    data = token.encode()
    if how == "body":
        return token[5:]
    if how == "basic":
        return base64.b64encode(b"__token__:" + data).decode()
    if how in ("b64", "b64url"):
        encode = base64.b64encode if how == "b64" else base64.urlsafe_b64encode
        # Any alignment: the bytes before the token change only the first quartet.
        return encode(b"x" * pad + data).decode()[4 if pad else 0 :]
    if how == "hex":
        return data.hex()
    if how == "HEX":
        return data.hex().upper()
    if how == "reversed":
        return token[::-1]
    return token


def _sprinkle(text: str, cuts: list[tuple[int, str]]) -> str:
    for position, noise in sorted(cuts, reverse=True):
        position %= len(text) + 1
        text = text[:position] + noise + text[position:]
    return text


OUTSIDE = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(
    domain=st.sampled_from(["test.pypi.org", "pypi.org", "localhost", "pypi.internal.example"]),
    how=st.sampled_from(["raw", "body", "basic", "b64", "b64url", "hex", "HEX", "reversed"]),
    pad=st.integers(0, 2),
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(NOISE)), max_size=12),
    before=OUTSIDE,
    after=OUTSIDE,
)
def test_no_disguised_echo_survives(
    domain: str, how: str, pad: int, cuts: list[tuple[int, str]], before: str, after: str
) -> None:
    token = _token(domain)
    disguised = _disguise(token, how, pad)
    echo = before + _sprinkle(disguised, cuts) + after
    shown = _STRIP.sub("", redact(echo, [token]))
    windows = {disguised[i : i + RUN] for i in range(len(disguised) - RUN + 1)}
    assert not any(window in shown for window in windows)
    assert REDACTED in redact(echo, [token])


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_text_without_a_token_is_left_alone(text: str) -> None:
    token = _token("test.pypi.org")
    if "pypi-" in text:
        return
    assert redact(text, [token]) == text


def test_an_echo_split_across_lines_in_markup() -> None:
    token = _token("test.pypi.org")
    body = token[5:]
    page = "<p>your token:<br>\n" + "<wbr>".join(body[i : i + 7] for i in range(0, len(body), 7))
    page += "</p>"
    shown = redact(page, [token])
    assert body[:20] not in _STRIP.sub("", shown)
    assert shown.startswith("<p>your token:<br>\n")


def test_clean_bounds_and_escapes() -> None:
    token = _token("localhost")
    text = clean(f"\x1b[2J{token} " + "x" * 5000, [token], limit=100)
    assert "\x1b" not in text and token[5:25] not in text
    assert len(text) <= 100 + len("…") + 8  # the escaped ESC is longer than ESC
