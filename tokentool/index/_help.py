"""The stand-in's ``/help/`` page: every anchor its messages link to.

The site's help page explains these at length; here each gets a sentence or
two in this project's words, so a link printed by twine or uv leads somewhere.
"""

from __future__ import annotations

from html import escape

#: anchor -> (title, explanation). Every ``help(...)`` anchor used in rules/ or _upload.
TOPICS: dict[str, tuple[str, str]] = {
    "invalid-auth": (
        "Invalid or non-existent authentication information",
        "The upload carried no token, or one this index never issued or has revoked. "
        "Send username __token__ and the whole token (pypi-...) as the password.",
    ),
    "apitoken": (
        "API tokens",
        "Uploads authenticate with an API token, never a password. Mint one with "
        "'tokentool index mint --user NAME', or on the account page (/manage/account/, "
        "after 'tokentool index passwd NAME'), and use it with username __token__.",
    ),
    "trusted-publishers": (
        "Trusted publishers",
        "The real index also accepts short-lived tokens from CI systems it trusts. "
        "This stand-in only issues API tokens.",
    ),
    "project-name": (
        "Project names",
        "A project name can be refused when it is invalid, a Python standard-library "
        "module, prohibited, too similar to an existing name, or owned by someone else; "
        "a token may also be restricted to other projects.",
    ),
    "description-content-type": (
        "Descriptions that fail to render",
        "The long description must render in its declared format (reStructuredText "
        "unless Description-Content-Type says otherwise). Check it with "
        "'twine check dist/*'.",
    ),
    "file-name-reuse": (
        "File name reuse",
        "A file name can be uploaded once. Uploading the same name with other content is "
        "refused, and the name of a deleted file is never accepted again: release a new "
        "version instead.",
    ),
    "requesting-a-file-size-limit-increase": (
        "File size limit",
        "Each file may be at most the index's file size limit (100 MB on Test PyPI; "
        "this stand-in's '--max-upload-size').",
    ),
    "requesting-a-project-size-limit-increase": (
        "Project size limit",
        "All files of a project together may be at most the project size limit "
        "(10 GB on Test PyPI).",
    ),
    "verified-email": (
        "Verified e-mail address",
        "The account that owns the token needs a verified primary e-mail address before "
        "it may upload.",
    ),
    "two-factor-authentication": (
        "Two-factor authentication",
        "The account that owns the token needs two-factor authentication enabled before "
        "it may upload.",
    ),
    "admin-intervention": (
        "Administrator intervention",
        "The index's administrators have paused uploads or new projects for now.",
    ),
}


def help_page(site: str) -> str:
    sections = "\n".join(
        f'<h2 id="{anchor}">{escape(title)}</h2>\n<p>{escape(text)}</p>'
        for anchor, (title, text) in TOPICS.items()
    )
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8">'
        "<title>Help: tokentool stand-in index</title></head>\n<body>\n"
        f"<h1>Help for the stand-in index at {escape(site)}</h1>\n{sections}\n</body>\n</html>\n"
    )
