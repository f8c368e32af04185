"""Start-up cost control for the token commands.

pypitoken imports jsonschema when it is imported (about half of a token
command's start-up time) but only uses it to load caveats, which tokentool
parses itself. Until something really touches it, ``jsonschema`` is a stand-in
module whose first attribute lookup imports the genuine package, so code that
validates still gets the real thing. (importlib's LazyLoader would be the
textbook tool, but on Python 3.11 the ``import`` statement itself triggers it.)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

NAME = "jsonschema"


class _Deferred(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(NAME) is self:
            del sys.modules[NAME]
        return getattr(importlib.import_module(NAME), attr)


def defer_jsonschema() -> None:
    if NAME not in sys.modules:
        sys.modules[NAME] = _Deferred(NAME)


defer_jsonschema()
