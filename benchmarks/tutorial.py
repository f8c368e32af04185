"""The seed tutorial's ``tutorial.py``, as its reader ends up with it.

Reproduced from shared/reference/seed-tutorial.txt with the three lines the
published text lost restored (``try:``, ``token.restrict(...)``, ``main()``), so
bench_cli.py and bench_cycle.py time the manual flow as a reader would run it.
"""

import sys

from pypitoken import Token


def add_restriction(raw_token: str, project: str) -> str:
    token = Token.load(raw_token)
    print("Original restrictions:", token.restrictions, file=sys.stderr)

    token.restrict(project_names=[project])
    print("New restrictions:", token.restrictions, file=sys.stderr)

    return token.dump()


def main() -> None:
    raw_token = sys.stdin.read().strip()
    try:
        project = sys.argv[1]
    except IndexError:
        sys.exit(f"Usage: {sys.argv[0]} {{project_name}} < token")

    print(add_restriction(raw_token=raw_token, project=project))


if __name__ == "__main__":
    main()
