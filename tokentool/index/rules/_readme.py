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


# warehouse.utils.readme.render: the upload check asks use_fallback=False, the
# release page (tokentool.index.web) the default, as warehouse stores Description.html.
def render(value: str, content_type: str | None, *, use_fallback: bool = False) -> str | None:
    if content_type:
        # get_content_type() reads "text/markdown; charset=UTF-8" as text/markdown,
        # and anything unparsable as text/plain (RFC 2045).
        msg = EmailMessage()
        msg["content-type"] = content_type
        content_type = msg.get_content_type()
    renderer = _RENDERERS.get(content_type, readme_renderer.txt)
    rendered: str | None = renderer.render(value)  # type: ignore[attr-defined]
    if content_type == "text/plain":  # "Wrap plaintext as preformatted"
        rendered = f"<pre>{rendered}</pre>"
    if use_fallback and rendered is None:
        rendered = readme_renderer.txt.render(value)
    return rendered
