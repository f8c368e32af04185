"""Who is uploading, and may they: warehouse's security policies, in its order.

``authenticate`` is pyramid's ``MultiSecurityPolicy`` over the two policies an
upload can meet: ``BasicAuthSecurityPolicy`` (pyramid's
``extract_http_basic_credentials``: lenient base64, UTF-8 else latin-1, and a
403 for any username but ``__token__``), then ``MacaroonSecurityPolicy``
(``_extract_http_macaroon``: ``split(" ", 1)``, no stripping for the ``token``
and ``bearer`` schemes, strict UTF-8 for Basic; ``find_from_raw``).

``authorize`` is ``MacaroonSecurityPolicy.permits`` (the stored caveats
appended and judged by the same evaluator as ``tokentool check``, then the
signature, then the ACL) followed by ``_ensure_user_can_upload``.

Where warehouse's code raises something nobody catches, the stand-in answers
500 as warehouse does (a V1 macaroon; an identifier Python's ``uuid`` reads
but PostgreSQL does not; a reason whose ``%`` breaks pyramid's formatting).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid

import pymacaroons
import sqlalchemy as sa

import tokentool
from tokentool.exceptions import LoadError
from tokentool.index._db import ProjectRow, Tx
from tokentool.index._types import Identity, UploadError
from tokentool.index.rules._base import Site
from tokentool.token import INTERNAL_ERROR, PREFIX, Token, caveats_of
from tokentool.token.caveats import decode_caveat

__all__ = ["authenticate", "authorize", "ensure_user_can_upload", "serialize_caveat"]

_TOKEN_USER = "__token__"
# PostgreSQL's uuid_in: optional braces, 32 hex digits, a hyphen allowed after
# any group of four. Python's uuid.UUID also takes "urn:uuid:" and stray
# hyphens; such an identifier passes warehouse's check and fails in the query.
_PG_UUID = re.compile(
    r"(?:\{[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}\}|[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7})"
)


def help_url(site: str, anchor: str) -> str:
    """``request.help_url``: built by ``Site.help``, the rules' one way, from the base URL."""
    return Site(url=site).help(anchor)


def invalid_auth(site: str) -> UploadError:
    """The refusal of a missing, unknown or unreadable credential (``_upload`` too)."""
    return UploadError(
        403,
        "Invalid or non-existent authentication information. "
        f"See {help_url(site, 'invalid-auth')} for more information.",
    )


def server_error() -> UploadError:
    return UploadError(500, INTERNAL_ERROR)


def serialize_caveat(obj: object) -> str:
    """``warehouse.macaroons.caveats.serialize``: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """pyramid.authentication.extract_http_basic_credentials."""
    try:
        method, auth = header.split(" ", 1)
    except ValueError:
        return None
    if method.lower() != "basic":
        return None
    try:
        # pyramid's b64decode: base64.b64decode(bytes_(v)), bytes_ encoding latin-1,
        # so characters outside the alphabet (even non-ASCII ones) are skipped.
        raw = base64.b64decode(auth.strip().encode("latin-1"))
    except binascii.Error:
        return None
    except ValueError:  # beyond latin-1 (no WSGI header is): uncaught in pyramid
        raise server_error() from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    username, sep, password = text.partition(":")
    return (username, password) if sep else None


def _http_macaroon(header: str) -> str | None:
    """MacaroonSecurityPolicy's ``_extract_http_macaroon``."""
    try:
        method, auth = header.split(" ", 1)
    except ValueError:
        return None
    method = method.lower()
    if method == "basic":
        try:
            decoded = base64.b64decode(auth).decode()
        except ValueError:
            return None
        username, _sep, password = decoded.partition(":")
        return password.strip() if username == _TOKEN_USER else None
    if method in ("token", "bearer"):
        return auth
    return None


def authenticate(header: str | None, tx: Tx, site: str) -> Identity:
    """The uploading identity, or the refusal warehouse answers before any form check."""
    if not header:
        raise invalid_auth(site)
    credentials = _basic_credentials(header)
    if credentials is not None and credentials[0] != _TOKEN_USER:
        raise UploadError(
            403,
            "Username/Password authentication is no longer supported. Migrate to API "
            "Tokens or Trusted Publishers instead. See "
            f"{help_url(site, 'apitoken')} and {help_url(site, 'trusted-publishers')}",
        )
    raw = _http_macaroon(header)
    if raw is None:
        raise invalid_auth(site)
    # DatabaseMacaroonService.find_from_raw
    try:
        macaroon = tokentool.token.deserialize(raw)
    except LoadError:
        raise invalid_auth(site) from None
    if macaroon.version == pymacaroons.MACAROON_V1:
        # find_from_raw: ``m.identifier`` is a str for V1, so ``.decode()`` raises
        # AttributeError (500) -- unless making that str fails first: pymacaroons'
        # ``identifier`` decodes V1 bytes as UTF-8 inside the same ``try``, and its
        # UnicodeDecodeError becomes "Macaroon not found" (no identity).
        try:
            macaroon.identifier  # noqa: B018 -- the property is what raises
        except UnicodeDecodeError:
            raise invalid_auth(site) from None
        raise server_error()
    try:
        identifier = macaroon.identifier_bytes.decode()
    except UnicodeDecodeError:
        raise invalid_auth(site) from None
    try:
        canonical = str(uuid.UUID(identifier))
    except ValueError:
        raise invalid_auth(site) from None
    if tx.db.is_sqlite:
        # SQLite has no uuid type: PostgreSQL's parsing (rules/README.md), inferred.
        if not _PG_UUID.fullmatch(identifier):
            raise server_error()  # the query fails: "invalid input syntax for type uuid"
        row = tx.token(canonical)
    else:
        try:  # the identifier as sent: PostgreSQL's uuid input parses it, as on the site
            row = tx.token(identifier)
        except sa.exc.DataError:
            raise server_error() from None
    if row is None:
        raise invalid_auth(site)
    token = Token(PREFIX, macaroon.location or "", identifier, caveats_of(macaroon), macaroon)
    return Identity(row, token)


def authorize(
    identity: Identity, typed_name: str, project: ProjectRow | None, tx: Tx, site: str
) -> None:
    """``permits`` for an upload to ``project`` (``None``: the one about to be created)."""
    stored = tuple(decode_caveat(c) for c in identity.row.caveats)
    verdict = identity.token.evaluate(
        typed_name,
        # A new project gets a fresh ID and its typed name.
        project_id=project.id if project else str(uuid.uuid4()),
        user_id=identity.row.user_id,
        display_name=project.name if project else typed_name,
        stored=stored,
    )
    if not verdict.allowed:
        raise UploadError(verdict.status, verdict.message)
    if not identity.token.verify_signature(identity.row.root_key):
        raise UploadError(403, "Invalid API Token: signatures do not match")
    if project is not None and not tx.has_role(project.id, identity.row.user_id):
        raise UploadError(
            403,
            f"The user '{identity.row.username}' isn't allowed to upload to project "
            f"'{project.name}'. See {help_url(site, 'project-name')} for more information.",
        )
    ensure_user_can_upload(identity, site)


def ensure_user_can_upload(identity: Identity, site: str) -> None:
    """forklift's ``_ensure_user_can_upload``: a verified primary e-mail, then 2FA."""
    row = identity.row
    if not row.email_verified:
        raise UploadError(
            403,
            f"User {row.username!r}, associated with the API token used, does not have a "
            "verified primary email address. Please add a verified primary email before "
            f"attempting to upload to PyPI. See {help_url(site, 'verified-email')} "
            "for more information.",
        )
    if not row.two_factor:
        raise UploadError(
            403,
            f"User {row.username!r}, associated with the API token used, does not have "
            "two-factor authentication enabled. Please enable two-factor authentication "
            "before attempting to upload to PyPI. See "
            f"{help_url(site, 'two-factor-authentication')} for more information.",
        )


def minted_caveats(raw_token: str) -> list[str]:
    """The caveats a freshly minted token carries, serialized for the token's row."""
    macaroon = tokentool.token.deserialize(raw_token)
    return [serialize_caveat(json.loads(c.caveat_id_bytes)) for c in macaroon.caveats]
