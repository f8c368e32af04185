"""PyPI's public sites, their hosts, and the one check every face runs before a token leaves.

A token only authenticates on the site whose database holds its root key, and
whoever receives it can use it: so a token goes to one host, decided here, and
the decision is made on the URL exactly as the request will be sent. The URL is
parsed once, by urllib3's ``parse_url`` (the parser ``requests`` sends with),
and ``Destination.url`` (that parse, re-serialised) is what the callers send.
A URL two parsers could read differently (``\\``, userinfo, control
characters, a non-ASCII host that IDNA would turn into another name) is
refused rather than interpreted.

The table, and why each host is (not) in it:

* ``pypi.org`` tokens upload to ``upload.pypi.org`` only. Warehouse's forklift
  routes (``warehouse/forklift/__init__.py``) are registered on the
  ``forklift.domain`` setting (``FORKLIFT_DOMAIN``), which is
  ``upload.pypi.org`` on production; warehouse's token page
  (``templates/manage/account/token.html``) and twine's ``DEFAULT_REPOSITORY``
  both name ``https://upload.pypi.org/legacy/``. ``pypi.org`` and
  ``www.pypi.org`` answer the web pages and the JSON API, not uploads: a token
  POSTed there can only fail, so it is not sent.
* ``test.pypi.org`` tokens upload to ``test.pypi.org`` only: the token page's
  ``upload_url`` for Test PyPI and twine's ``TEST_REPOSITORY`` are
  ``https://test.pypi.org/legacy/``. ``upload.test.pypi.org`` appears in
  neither warehouse nor twine (twine's ``_HOSTNAMES`` lists ``upload.pypi.org``
  and ``test.pypi.org``), so it is not an upload host.
* Every other host under ``pypi.org`` belongs to the same operator: it is
  classified as that site (so plain http is refused and a private index's
  token is kept away from it), but takes no token.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

from tokentool.exceptions import ConfigError

__all__ = [
    "DEFAULT_REPOSITORY_URL",
    "PUBLIC_DOMAINS",
    "SITES",
    "Destination",
    "Site",
    "check_destination",
    "check_url",
    "issuer_of",
    "json_api_url",
    "safe_url",
    "site_of",
]


@dataclasses.dataclass(frozen=True)
class Site:
    """One public site: the domain its tokens carry, where it takes uploads, where it answers."""

    #: The macaroon ``location`` of the site's tokens, and its name in messages.
    domain: str
    #: The one host that takes an upload (the forklift domain).
    upload_host: str
    #: Where ``/pypi/NAME/json`` and ``/simple/NAME/`` are answered.
    web_host: str

    @property
    def upload_url(self) -> str:
        return f"https://{self.upload_host}/legacy/"

    def owns(self, host: str) -> bool:
        """Is ``host`` one of this site's names (the domain or a name under it)?"""
        return host == self.domain or host.endswith("." + self.domain)


#: Most specific first: ``test.pypi.org`` is also "under" ``pypi.org``.
SITES = (
    Site("test.pypi.org", upload_host="test.pypi.org", web_host="test.pypi.org"),
    Site("pypi.org", upload_host="upload.pypi.org", web_host="pypi.org"),
)
PUBLIC_DOMAINS = tuple(site.domain for site in SITES)
DEFAULT_REPOSITORY_URL = SITES[0].upload_url
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
#: A DNS name as sent: ASCII letters, digits and hyphens in dot-separated labels.
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        return False
    return True


def issuer_of(location: str) -> str:
    """``pypi.org``, ``test.pypi.org`` or ``other`` for a token's ``location``."""
    return location if location in PUBLIC_DOMAINS else "other"


def _site(host: str) -> Site | None:
    return next((site for site in SITES if site.owns(host)), None)


def safe_url(url: str) -> str:
    """A URL for messages: no credentials, control characters escaped."""
    from tokentool._safety import escape

    try:
        parsed = _parse(url)
    except Exception:
        return escape(url.split("@")[-1] if "@" in url else url)
    return escape(parsed._replace(auth=None).url)


def _parse(url: str) -> Any:
    from urllib3.util import parse_url

    return parse_url(url)


@dataclasses.dataclass(frozen=True)
class Destination:
    """An upload URL as the request will be sent: ``url`` is what goes on the wire."""

    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    #: ``pypi.org``, ``test.pypi.org`` or ``other``.
    site: str

    def json_api_url(self, name: str) -> str:
        return json_api_url(self, name)


def check_url(url: str) -> Destination:
    """Parse an upload URL once, refusing anything a token sent there could only fail or leak.

    No token is involved yet: these refusals hold whoever issued it.
    """
    from tokentool._safety import escape

    shown = escape(repr(url))
    if not isinstance(url, str) or not url:
        raise ConfigError("the repository URL is empty")
    if url.partition("://")[0].lower() not in ("http", "https"):
        raise ConfigError(f"the repository URL must be an http(s) URL, got {shown}")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ConfigError(f"the repository URL contains spaces or control characters: {shown}")
    if "\\" in url:
        # urllib3 reads ``http://a\@b/`` as host a, urlsplit as host b: one URL, two hosts.
        raise ConfigError(f"the repository URL contains a backslash: {shown}")
    if not url.isascii():
        # IDNA would turn the name into another (``xn--``): a look-alike of a real host.
        raise ConfigError(
            f"the repository URL contains non-ASCII characters: {shown}; "
            "write the host in its ASCII (xn--) form if you really mean it"
        )
    try:
        parsed = _parse(url)
    except Exception:
        raise ConfigError(f"the repository URL cannot be parsed: {shown}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"the repository URL must be an http(s) URL, got {shown}")
    if parsed.auth is not None or "@" in (url.split("//", 1)[-1].split("/", 1)[0]):
        # The token goes in the Authorization header; credentials in the URL would be logged.
        raise ConfigError(
            "the repository URL must not contain credentials: the token is sent separately"
        )
    if parsed.query is not None or parsed.fragment is not None:
        raise ConfigError(f"the repository URL must not have a query or fragment: {shown}")
    host = parsed.host.lower().rstrip(".")
    if not (_HOST_NAME.fullmatch(host) or _is_ip_literal(host)):
        # A percent-escape or other odd byte in a host name: parsers disagree on those.
        raise ConfigError(f"the repository URL's host is not a host name: {shown}")
    path = parsed.path or "/"
    if not path.endswith("/"):
        path += "/"
    if path.rstrip("/").endswith("/simple") or path.rstrip("/") == "simple":
        base = f"{parsed.scheme}://{parsed.netloc}{path[: -len('simple/')]}"
        raise ConfigError(
            f"{escape(base)}simple/ is the simple index that pip reads; the upload URL ends in "
            f"/legacy/ (e.g. {escape(base)}legacy/)"
        )
    site = _site(host)
    if site is not None and parsed.scheme != "https":
        raise ConfigError(
            f"refusing to send a token in clear text to {site.domain}: use "
            f"https://{escape(parsed.netloc)}{escape(path)}"
        )
    sent = parsed._replace(path=path).url
    return Destination(
        sent, parsed.scheme, host, parsed.port, path, site.domain if site else "other"
    )


def site_of(url: str) -> str:
    """``pypi.org``, ``test.pypi.org`` or ``other``, comparable with ``Token.issuer``."""
    try:
        host = (_parse(url).host or "").lower().rstrip(".")
    except Exception:
        return "other"
    site = _site(host)
    return site.domain if site else "other"


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _location_host(location: str) -> str:
    """The host a private token's location names (it may carry a port or a scheme)."""
    try:
        parsed = _parse(location if "//" in location else f"//{location}")
    except Exception:
        return location.lower()
    return (parsed.host or location).lower().rstrip(".")


def check_destination(
    location: str,
    url: str | Destination,
    *,
    allow_production: bool = False,
    allow_other_host: bool = False,
) -> Destination:
    """Where a token issued at ``location`` may be sent: the parsed URL, or ``ConfigError``.

    A public site's token goes to that site's upload host only (elsewhere it
    can only fail, and a stranger's host would keep it). A private index's
    token goes only to the host its location names (any loopback name counts as
    ``localhost``), unless ``allow_other_host``, and never to a public site,
    which would refuse it. ``allow_production`` is the guard against
    uploading a throwaway project to pypi.org; commands that publish nothing
    (probe, conformance' own guard aside) pass True.
    """
    from tokentool._safety import escape

    dest = url if isinstance(url, Destination) else check_url(url)
    issuer = issuer_of(location)
    shown = escape(dest.url)
    if issuer != "other":
        if dest.site != issuer:
            where = dest.site if dest.site != "other" else escape(dest.host)
            raise ConfigError(
                f"the token was issued by {issuer} but the repository URL points at {where} "
                f"({shown}): a {issuer} token only works on {issuer}"
            )
        site = next(s for s in SITES if s.domain == issuer)
        if dest.host != site.upload_host:
            raise ConfigError(
                f"{escape(dest.host)} takes no uploads: {issuer} takes them at "
                f"{site.upload_url}, and a token is sent nowhere else"
            )
    elif dest.site != "other":
        raise ConfigError(
            f"the token was issued by {escape(location or 'an unknown site')}, not by "
            f"{dest.site}, but the repository URL points at {dest.site} ({shown}): "
            f"{dest.site} would refuse it"
        )
    elif location and not allow_other_host:
        wanted = _location_host(location)
        if not (dest.host == wanted or (_is_loopback(dest.host) and _is_loopback(wanted))):
            raise ConfigError(
                f"the token was issued by {escape(location)} but the repository URL points at "
                f"{escape(dest.host)}: pass --allow-other-host to send it there"
            )
    if dest.site == "pypi.org" and not allow_production:
        raise ConfigError(
            "refusing to upload a throwaway test project to production pypi.org "
            f"({shown}); pass --allow-production if you really mean it"
        )
    return dest


def json_api_url(url: str | Destination, name: str) -> str:
    """``/pypi/NAME/json`` beside an upload URL such as ``https://test.pypi.org/legacy/``.

    On a public site the JSON API is on its web host (``upload.pypi.org`` ->
    ``pypi.org``); elsewhere beside ``/legacy/``.
    """
    from urllib.parse import quote

    dest = url if isinstance(url, Destination) else check_url(url)
    path = dest.path.rstrip("/")
    if path.endswith("/legacy") or path == "legacy":
        path = path[: -len("legacy")].rstrip("/")
    site = _site(dest.host)
    if site is not None:
        netloc = site.web_host
    else:
        host = f"[{dest.host.strip('[]')}]" if ":" in dest.host else dest.host
        netloc = host + (f":{dest.port}" if dest.port else "")
    return f"{dest.scheme}://{netloc}{path}/pypi/{quote(name, safe='')}/json"
