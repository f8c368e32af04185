"""Bare pypiserver under waitress, authentication off: the benchmark's baseline.

Started as a subprocess by bench_index.py with the same thread count as the
stand-in, it prints the same ``Serving on`` line once it accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import pypiserver
import waitress


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    app = pypiserver.app(
        roots=[args.root.resolve()],
        authenticate=[],
        password_file=".",
        disable_fallback=True,
    )
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=args.threads, backlog=1024, connection_limit=256
    )

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"Serving on http://127.0.0.1:{server.effective_port}/", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
