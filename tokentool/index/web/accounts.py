"""Who is at the browser: passwords, login rate limits, signed cookie sessions, CSRF.

Warehouse's words and order (``warehouse/accounts/forms.py``: ``LoginForm``,
``PasswordMixin``; ``accounts/services.py``: ``check_password``,
``_check_ratelimits``, ``_hit_ratelimits``), the stand-in's own storage:

* Passwords are argon2 hashes (argon2-cffi, the library under warehouse's
  passlib hasher). A hash costs 64 MiB and tens of milliseconds, so at most
  ``HASHING_AT_ONCE`` run at a time, whatever the number of worker threads, and
  a password longer than warehouse's ``MAX_PASSWORD_SIZE`` is never hashed.
* Failed logins are counted in the database (``login_failures``) with the
  semantics of the ``limits`` library's moving window, which warehouse's
  ``RateLimiter`` uses: per IP, for everyone, and per user, each "10 per 5
  minutes" (global: 1000), warehouse's defaults.
* The session is a signed cookie (webob's ``SignedCookieProfile``, what
  pyramid's signed-cookie sessions use): HttpOnly, SameSite=Lax, 12 hours as
  warehouse's session. It holds the user's ID, when they logged in and the
  CSRF token, never a token or a password. Setting a password ends every
  session from before (warehouse's ``password_date`` check).
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import threading
import time
from typing import Any

from tokentool.exceptions import TokenError
from tokentool.index._db import Database, Tx, WebUser

#: warehouse/constants.py
MAX_PASSWORD_SIZE = 4096
#: warehouse's NewPasswordMixin: Length(min=8)
MIN_PASSWORD_SIZE = 8
INVALID_PASSWORD_MESSAGE = "The password is invalid. Try again."
NO_SUCH_USER = "No user found with that username"
REQUIRED = "This field is required."

#: warehouse/config.py: user_login, ip_login, global_login ratelimit strings.
LOGIN_WINDOW = 5 * 60
LOGIN_LIMITS = {"ip": 10, "global": 1000, "user": 10}

HASHING_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

SESSION_COOKIE = "session_id"
SESSION_SECONDS = 12 * 60 * 60  # warehouse/sessions.py: max_age
MAX_FLASHES = 4


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


class PasswordRefused(TokenError):
    """A new password the login form could never accept (one line on the command line)."""


def hash_password(password: str) -> str:
    """An argon2 hash of a new password, refusing what could never log in."""
    if len(password) < MIN_PASSWORD_SIZE:
        raise PasswordRefused(f"a password must have at least {MIN_PASSWORD_SIZE} characters")
    if len(password) > MAX_PASSWORD_SIZE:
        raise PasswordRefused("Password too long.")
    if "\x00" in password:
        raise PasswordRefused("Null bytes are not allowed.")
    with _hashing:
        return str(_hasher().hash(password))


def password_matches(stored: str | None, password: str) -> bool:
    if not stored:  # a user made by ``index mint`` has no web password yet
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    with _hashing:
        try:
            return bool(_hasher().verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False


class TooManyFailedLogins(Exception):
    def __init__(self, resets_in: float) -> None:
        super().__init__("too many failed logins")
        self.resets_in = resets_in

    @property
    def message(self) -> str:
        """``PasswordMixin.validate_password``'s words, with humanize's ``naturaldelta``."""
        import humanize

        return (
            "There have been too many unsuccessful login attempts. You have been locked out "
            f"for {humanize.naturaldelta(self.resets_in)}. Please try again later."
        )


def _limited(tx: Tx, scope: str, key: str, now: float) -> None:
    """One limiter's ``test``: raise with ``resets_in`` once its window is full."""
    count, oldest = tx.login_failures(scope, key, now - LOGIN_WINDOW)
    if count >= LOGIN_LIMITS[scope] and oldest is not None:
        raise TooManyFailedLogins(max(0.0, oldest + LOGIN_WINDOW - now))


def check_password(db: Database, user: WebUser, password: str, remote_addr: str) -> bool:
    """``UserService.check_password``: the limiters, the hash, then the hits on failure.

    Raises ``TooManyFailedLogins`` before any hash is computed once a window is full.
    """
    now = time.time()
    reader = db.reader()
    # _check_ratelimits(userid=None), then with the user (IP and global again: no news)
    _limited(reader, "ip", remote_addr, now)
    _limited(reader, "global", "", now)
    _limited(reader, "user", user.id, now)
    if password_matches(user.password_hash, password):
        return True
    with db.transaction() as tx:  # _hit_ratelimits: user, global, ip
        before = now - LOGIN_WINDOW
        tx.record_login_failure("user", user.id, before)
        tx.record_login_failure("global", "", before)
        tx.record_login_failure("ip", remote_addr, before)
    return False


@dataclasses.dataclass
class Session:
    """What the cookie carries: the CSRF token always, the user once logged in."""

    csrf: str
    issued: float
    user_id: str | None = None
    #: When the user logged in; a password set later ends the session.
    auth: float = 0.0
    #: [queue, message] pairs shown once on the next page (pyramid's ``session.flash``).
    flash: list[list[str]] = dataclasses.field(default_factory=list)
    changed: bool = False

    def dump(self) -> dict[str, Any]:
        return {
            "csrf": self.csrf,
            "iat": self.issued,
            "uid": self.user_id,
            "auth": self.auth,
            "flash": self.flash[-MAX_FLASHES:],
        }

    def restart(self, user_id: str | None = None) -> None:
        """A new session across an authentication boundary: new CSRF token, nothing kept."""
        fresh = Session.new()
        self.csrf, self.issued, self.flash, self.changed = fresh.csrf, fresh.issued, [], True
        self.user_id, self.auth = user_id, fresh.issued

    @classmethod
    def new(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), issued=time.time(), changed=True)

    @classmethod
    def load(cls, value: object) -> Session | None:
        if not isinstance(value, dict):
            return None
        csrf, issued, uid, auth = (value.get(k) for k in ("csrf", "iat", "uid", "auth"))
        if not isinstance(csrf, str) or not isinstance(issued, (int, float)):
            return None
        if time.time() - issued > SESSION_SECONDS:
            return None
        if uid is not None and (not isinstance(uid, str) or not isinstance(auth, (int, float))):
            return None
        flash = value.get("flash")
        if not isinstance(flash, list) or not all(
            isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f)
            for f in flash
        ):
            flash = []
        return cls(csrf=csrf, issued=float(issued), user_id=uid, auth=float(auth or 0), flash=flash)

    def csrf_ok(self, sent: object) -> bool:
        return isinstance(sent, str) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class Sessions:
    """Signed cookie sessions; the secret is kept in the database's ``meta`` table."""

    def __init__(self, db: Database) -> None:
        from webob.cookies import SignedCookieProfile

        with db.transaction() as tx:
            secret = tx.get_meta("session_secret")
            if secret is None:
                secret = secrets.token_hex(32)
                tx.set_meta("session_secret", secret)
        self.profile = SignedCookieProfile(
            secret,
            "tokentool.index.web.session",
            cookie_name=SESSION_COOKIE,
            httponly=True,
            samesite="Lax",
        )

    def load(self, request: Any) -> Session:
        """The request's session, or a new one (set on the answer) when it has none valid."""
        try:
            value = self.profile.bind(request).get_value()
        except Exception:  # a cookie that fails to decode is no session
            value = None
        return Session.load(value) or Session.new()

    def save(self, request: Any, response: Any, session: Session) -> None:
        if session.changed:
            self.profile.bind(request).set_cookies(response, session.dump())

    def forget(self, request: Any, response: Any) -> None:
        self.profile.bind(request).set_cookies(response, None)
