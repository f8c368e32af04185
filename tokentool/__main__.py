"""``python -m tokentool``: the ``tokentool`` command (its table lives in :mod:`tokentool.cli`)."""

from tokentool.cli import entrypoint

if __name__ == "__main__":
    entrypoint()
