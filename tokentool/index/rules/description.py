"""The long description must render: ``file_upload`` with ``warehouse/utils/readme.py``.

The rendering runs in a validator worker (``_workers``): off the server's GIL,
within the upload's budget.
"""

from __future__ import annotations

import sys

from tokentool.index.rules import _workers
from tokentool.index.rules._base import Upload, UploadError


# warehouse.forklift.legacy.file_upload: "Uploading should prevent broken rendered
# descriptions."
def description_renders(up: Upload) -> None:
    assert up.meta is not None
    if not up.meta.description:
        return
    content_type = up.meta.description_content_type or "text/x-rst"
    value = up.meta.description
    if not _workers.run("render", (value, content_type), size=sys.getsizeof(value)):
        if up.meta.description_content_type:
            message = f"The description failed to render for '{content_type}'."
        else:
            message = "The description failed to render in the default format of reStructuredText."
        raise UploadError(
            400,
            f"{message} See {up.site.help('description-content-type')} for more information.",
        )
