"""tokentool's token commands against the seed tutorial's script and a bare pypitoken loop.

1. Start-up: ``tokentool restrict NAME`` as a process vs ``python tutorial.py NAME``
   (target: no slower than 1.2x).
2. ``tokentool restrict --each`` over 10,000 names vs a bare pypitoken loop printing
   the same lines, each as one process (target: no slower than 1.3x).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import interleaved, report, run_process, throwaway_token

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
TOKENTOOL = str(BIN / "tokentool")
NAMES = [f"project-{i}" for i in range(10_000)]

BARE_LOOP = """
import sys
from pypitoken import Token
raw = sys.stdin.read().strip()
out = []
for name in sys.argv[1:]:
    token = Token.load(raw)
    token.restrict(project_names=[name])
    out.append(f"{name}\\t{token.dump()}\\n")
sys.stdout.write("".join(out))
"""


def main() -> int:
    token = throwaway_token()
    startup = interleaved(
        {
            "tutorial.py NAME (seed)": lambda: run_process(
                [sys.executable, str(HERE / "tutorial.py"), "my-project"], token
            ),
            "tokentool restrict NAME": lambda: run_process(
                [TOKENTOOL, "restrict", "my-project"], token
            ),
        },
        repeat=30,
    )
    ok = report(
        "start-up, one derivation per process (30 runs each)",
        startup,
        "tutorial.py NAME (seed)",
        1.2,
    )

    each = interleaved(
        {
            "bare pypitoken loop, 10,000 names": lambda: run_process(
                [sys.executable, "-c", BARE_LOOP, *NAMES], token
            ),
            "tokentool restrict --each, 10,000 names": lambda: run_process(
                [TOKENTOOL, "restrict", "--each", *NAMES], token
            ),
        },
        repeat=5,
    )
    ok &= report(
        "--each over 10,000 project names (5 runs each)",
        each,
        "bare pypitoken loop, 10,000 names",
        1.3,
    )
    # The two must produce the same derivations, or the comparison means nothing.
    ours = subprocess.run(
        [TOKENTOOL, "restrict", "--each", *NAMES[:3]],
        input=token,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split("\t")[0] for line in ours] == NAMES[:3]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
