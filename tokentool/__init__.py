"""Read, explain and derive restricted PyPI API tokens.

The public API is re-exported here so callers write ``tokentool.load(...)``;
the stand-in index and the workflow live in their own modules and are imported
only by the commands that need them (start-up cost matters for the CLI).

The token names are resolved on first use (PEP 562 ``__getattr__``): they come
from :mod:`tokentool.token`, which imports pypitoken, pymacaroons and libsodium
(nacl), about half the start-up of ``tokentool scan``, which needs none of them
until a candidate has to be decoded. ``import tokentool`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# First: makes pypitoken's jsonschema import lazy before anything imports pypitoken.
from tokentool import _lazy  # noqa: F401  (isort keeps it first)
from tokentool.exceptions import ConfigError, LoadError, RestrictionError, TokenError

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__ below
    from tokentool.token import (
        Token,
        Verdict,
        derive,
        load,
        mint,
        normalize_project,
        parse_duration,
        parse_moment,
        parse_time,
        redact,
    )

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "LoadError",
    "RestrictionError",
    "Token",
    "TokenError",
    "Verdict",
    "derive",
    "load",
    "mint",
    "normalize_project",
    "parse_duration",
    "parse_moment",
    "parse_time",
    "redact",
]

#: Public names that live in :mod:`tokentool.token` (all but the exceptions,
#: imported above), imported on first access.
_FROM_TOKEN = frozenset(__all__) - {"ConfigError", "LoadError", "RestrictionError", "TokenError"}
#: Submodules the eager import used to bind as attributes (``tokentool.token.X``).
_SUBMODULES = frozenset({"token"})


# Hidden from type checkers, which see the imports above instead: a visible
# module __getattr__ would make them accept any name (a typo included).
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Import the token machinery the first time one of its names is asked for."""
        import importlib

        if name in _FROM_TOKEN:
            value = getattr(importlib.import_module("tokentool.token"), name)
        elif name in _SUBMODULES:
            value = importlib.import_module(f"tokentool.{name}")
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FROM_TOKEN | _SUBMODULES)
