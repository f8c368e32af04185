"""Where a project's ``.env``, ``dist/`` and ``.tokentool/`` live: its root.

The root is the folder holding ``tasks.py``, found the way Invoke finds it: from
the current folder upwards. A folder with no ``tasks.py`` above it falls back to
the nearest ``pyproject.toml`` (a project that uses only the ``tokentool``
commands), and failing that, the current folder. So ``invoke upload`` and
``tokentool upload`` in any subfolder read the same ``.env``, and ``tokentool
index mint`` there writes to the stand-in that ``invoke index`` serves.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_PORT", "MARKERS", "find_root"]

#: The one default port of the stand-in: ``tokentool index serve``, ``invoke index``, README.
DEFAULT_PORT = 8080
#: Files that mark a project root, in order of preference.
MARKERS = ("tasks.py", "pyproject.toml")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding a marker file."""
    here = (start or Path.cwd()).resolve()
    for marker in MARKERS:
        for folder in (here, *here.parents):
            if (folder / marker).is_file():
                return folder
    return here
