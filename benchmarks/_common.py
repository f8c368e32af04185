"""Shared measuring helpers for the benchmarks: timing, ratios, a throwaway token."""

from __future__ import annotations

import secrets
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence


def throwaway_token(domain: str = "test.pypi.org") -> str:
    import tokentool

    return tokentool.mint(
        domain=domain,
        identifier=str(uuid.uuid4()),
        key=secrets.token_bytes(32),
        user_id=str(uuid.uuid4()),
    )


def time_call(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def run_process(argv: Sequence[str], stdin: str) -> None:
    subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True)


def interleaved(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Alternate the cases so drift in machine load hits them all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: page cache, .pyc files
        fn()
    for _ in range(repeat):
        for name, fn in cases.items():
            samples[name] += time_call(fn, 1)
    return samples


def report(title: str, samples: dict[str, list[float]], baseline: str, target: float) -> bool:
    """Print medians side by side and the ratio against ``baseline``; True if on target."""
    print(f"\n{title}")
    base = statistics.median(samples[baseline])
    ok = True
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / base
        print(f"  {name:<44} median {median * 1000:8.1f} ms   {ratio:5.2f}x of {baseline}")
        if name != baseline:
            ok &= ratio <= target
    print(f"  target: no slower than {target}x -> {'met' if ok else 'MISSED'}")
    return ok


def gz(data: bytes) -> bytes:
    """Deterministic gzip: the bombs and sdists the benchmarks build are the same each run."""
    import gzip

    return gzip.compress(data, compresslevel=9, mtime=0)


def tar_header(name: str, size: int) -> bytes:
    """A GNU tar header, for writing archives member by member without holding them."""
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)
