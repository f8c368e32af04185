"""The stand-in's shared types, at the bottom of its imports: who uploads, how a
refusal travels, the size units and the status titles.

Everything in ``tokentool.index`` may import this module; it imports nothing
from ``tokentool.index`` but ``_db``'s row type, so no module above it can
form an import cycle through it (``tests/test_layout.py`` checks).
"""

from __future__ import annotations

import dataclasses

import tokentool.token
from tokentool.index._db import TokenRow

MIB = 1024 * 1024
GIB = 1024 * MIB

#: Warehouse's (and pyramid's) titles of the statuses the upload view answers.
TITLES = {
    200: "OK",
    308: "Permanent Redirect",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
}


class UploadError(Exception):
    """A refusal: the status and the reason phrase the client will print."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Duplicate(Exception):
    """The very same file is already there: warehouse answers 200 at once and changes
    nothing (``_is_duplicate_file`` -> ``request.tm.doom(); return HTTPOk()``)."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is uploading: the token's database row and the token as sent (caveats, chain)."""

    row: TokenRow
    token: tokentool.token.Token = dataclasses.field(repr=False)
