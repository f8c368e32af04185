"""What every part of the web face shares, at the bottom of its imports.

The routes (warehouse's names and paths), the one script and one style the
Content-Security-Policy allows by their hashes, the headers every answer
carries, and the small helpers views and templates both use.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import quote

#: The only script: the copy buttons. Allowed by its hash, nothing else runs.
COPY_SCRIPT = (
    'document.addEventListener("click", function (event) {\n'
    '  var button = event.target.closest("button[data-copy]");\n'
    "  if (!button) { return; }\n"
    '  var text = document.getElementById(button.getAttribute("data-copy")).textContent.trim();\n'
    "  navigator.clipboard.writeText(text).then(function () {\n"
    '    button.textContent = "Copied";\n'
    "  });\n"
    "});\n"
)
STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem;line-height:1.5}"
    "header,footer{border-bottom:1px solid #ccc;padding:.5rem 0}footer{border:0;"
    "border-top:1px solid #ccc;margin-top:2rem;font-size:.9em}"
    "nav a,nav form{margin-right:1rem;display:inline}"
    "code,pre{background:#f4f4f4;padding:.1rem .3rem;overflow-wrap:anywhere}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}.errors{color:#a00}.flash{background:#ffe;"
    "border:1px solid #cc9;padding:.5rem}.yanked{color:#a00;font-weight:bold}"
    ".description{border:1px solid #ddd;padding:0 1rem}"
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; "
        f"script-src {_csp_hash(COPY_SCRIPT)}; style-src {_csp_hash(STYLE)}; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "origin-when-cross-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "deny"),
]

#: A form is a few fields; a body beyond this is refused before it is read.
MAX_FORM_BYTES = 64 * 1024
#: pyramid's PATH_SEGMENT_SAFE: what ``route_path`` leaves unquoted in a segment.
_SEGMENT_SAFE = "~!$&'()*+,;=:@"
SAFE_METHODS = "GET, HEAD, OPTIONS"
REDIRECT_FIELD = "next"

_ROUTES: list[tuple[str, re.Pattern[str], bool]] = [
    # (view, path pattern, takes any method: require_methods=False)
    ("index", re.compile(r"/"), False),
    ("project", re.compile(r"/project/([^/]+)/"), False),
    ("release", re.compile(r"/project/([^/]+)/([^/]+)/"), False),
    ("profile", re.compile(r"/user/([^/]+)/"), False),
    ("p", re.compile(r"/p/([^/]+)/"), False),
    ("p_version", re.compile(r"/p/([^/]+)/([^/]+)/"), False),
    ("u", re.compile(r"/u/([^/]+)/"), False),
    ("login", re.compile(r"/account/login/"), True),
    ("logout", re.compile(r"/account/logout/"), True),
    ("account", re.compile(r"/manage/account/"), False),
    ("token", re.compile(r"/manage/account/token/"), True),
]


def segment(text: str) -> str:
    return quote(text, safe=_SEGMENT_SAFE)


def match(path: str) -> tuple[str, tuple[str, ...], bool] | None:
    for name, pattern, any_method in _ROUTES:
        found = pattern.fullmatch(path)
        if found:
            return name, found.groups(), any_method
    return None


def is_safe_url(url: str | None) -> bool:
    """``warehouse.utils.http.is_safe_url`` for a same-site path: nothing else is followed."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return False
    return all(c.isprintable() and c not in "\\" for c in url)


class NotFound(Exception):
    """warehouse's ``HTTPNotFound`` (a factory's ``KeyError``): the 404 page."""


class Redirect(Exception):
    def __init__(self, location: str, status: int = 303) -> None:
        super().__init__(location)
        self.location = location
        self.status = status
