"""Jinja2 as warehouse configures it for its pages: autoescape on, templates in the package.

``StrictUndefined`` so a misspelt name fails the page (and its test) instead of
rendering empty. The filters are warehouse's, where it has one.
"""

from __future__ import annotations

import datetime
from typing import Any

from tokentool.index.web._base import segment


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "Never"
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(stamp: float | None) -> str:
    """warehouse's ``humanize`` filter: how long ago, in humanize's words."""
    import humanize

    if stamp is None:
        return "Never"
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    return str(humanize.naturaltime(datetime.datetime.now(datetime.timezone.utc) - moment))


def format_classifiers(classifiers: list[str]) -> dict[str, list[str]]:
    """``warehouse.filters.format_classifiers``: head -> natsorted tails, heads in order."""
    from natsort import natsorted

    structured: dict[str, list[str]] = {}
    for classifier in classifiers:
        key, *value = classifier.split(" :: ", 1)
        if value:
            structured.setdefault(key, []).append(value[0])
    return {key: natsorted(values) for key, values in structured.items()}


class Templates:
    def __init__(self, script: str, style: str) -> None:
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("tokentool.index.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = _when
        self.env.filters["ago"] = _ago
        self.env.filters["format_classifiers"] = format_classifiers
        self.env.filters["segment"] = segment
        # Constants of tokentool.index.web, never input (base.html marks them safe):
        # their hashes are in the Content-Security-Policy header.
        self.env.globals["copy_script"] = script
        self.env.globals["style"] = style

    def render(self, name: str, **values: Any) -> str:
        return str(self.env.get_template(name).render(**values))
