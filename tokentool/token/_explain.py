"""A token explained for a person: what ``tokentool inspect`` and ``invoke inspect`` print.

Every field comes from the token, and the token from someone else: a location
holding an escape sequence could otherwise print a forged ``issuer: pypi.org``
line. So every value is escaped.
"""

from __future__ import annotations

from tokentool._escape import escape

__all__ = ["format_explanation"]


def format_explanation(info: dict[str, object]) -> str:
    lines = [
        f"prefix:      {escape(info['prefix'])}",
        f"domain:      {escape(info['domain'] or '(none)')}",
        f"issuer:      {escape(info['issuer'])}",
        f"identifier:  {escape(info['identifier'])}",
    ]
    summary = info["summary"]
    assert isinstance(summary, list)
    if summary:
        lines.append("restrictions:")
        lines += [f"  - {escape(line)}" for line in summary]
    else:
        lines.append("restrictions: none (can upload to every project its user owns)")
    return "\n".join(lines)
