"""One exception base for everything a user can get wrong.

Callers (the CLI, the tasks, the stand-in index) catch ``TokenError`` alone and
print its message: so every message is one sentence and never contains a token
or any part of its signature.
"""

from __future__ import annotations


class TokenError(Exception):
    """Base class for every failure a user can cause."""


class LoadError(TokenError):
    """The text given is not a token this toolkit can read."""


class RestrictionError(TokenError):
    """A requested restriction is malformed or would leave an unusable token."""


class ConfigError(TokenError):
    """Configuration (.env, environment, options) is missing or malformed."""
