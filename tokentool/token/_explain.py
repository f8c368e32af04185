"""A token explained for a person: what ``tokentool inspect`` and ``invoke inspect`` print.

Every field comes from the token, and the token from someone else: a location
holding an escape sequence could otherwise print a forged ``issuer: pypi.org``
line. So every value is escaped.
"""

from __future__ import annotations

from tokentool._safety import escape

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
        # Since 2026-08 the site keeps the caveats it minted with the token's row
        # and judges them again (pypi/warehouse#20371 would mint project tokens
        # with nothing embedded): "none" here is not "unrestricted" there.
        lines.append(
            "restrictions: none embedded in the token; the site may keep restrictions for "
            "it that only the site can judge (without any, it can upload to every project "
            "its user owns)"
        )
    return "\n".join(lines)
