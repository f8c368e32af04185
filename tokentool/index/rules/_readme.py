"""``warehouse/utils/readme.py`` ``render``: run only inside a validator worker
(``_workers``), never on the server's threads."""

from __future__ import annotations

from email.message import EmailMessage

import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt

_RENDERERS = {
    None: readme_renderer.rst,
    "": readme_renderer.rst,
    "text/plain": readme_renderer.txt,
    "text/x-rst": readme_renderer.rst,
    "text/markdown": readme_renderer.markdown,
}


# warehouse.utils.readme.render(value, content_type, use_fallback=False)
def render(value: str, content_type: str | None) -> str | None:
    if content_type:
        # get_content_type() reads "text/markdown; charset=UTF-8" as text/markdown,
        # and anything unparsable as text/plain (RFC 2045).
        msg = EmailMessage()
        msg["content-type"] = content_type
        content_type = msg.get_content_type()
    renderer = _RENDERERS.get(content_type, readme_renderer.txt)
    rendered: str | None = renderer.render(value)  # type: ignore[attr-defined]
    return rendered
