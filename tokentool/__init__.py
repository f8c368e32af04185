"""Read, explain and derive restricted PyPI API tokens.

The public API is re-exported here so callers write ``tokentool.load(...)``;
the stand-in index and the workflow live in their own modules and are imported
only by the commands that need them (start-up cost matters for the CLI).
"""

# First: makes pypitoken's jsonschema import lazy before anything imports pypitoken.
from tokentool import _lazy  # noqa: F401  (isort keeps it first)
from tokentool.exceptions import ConfigError, LoadError, RestrictionError, TokenError
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
