"""The seed tutorial's finished tutorial.py, as its reader ends up with it.

Kept verbatim in spirit (only the tutorial's indentation slips are fixed) so the
benchmarks compare tokentool against what a user would otherwise run.
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
