"""Hostile archives: the stand-in's bounded inspection vs warehouse's way (list it all).

Two uploads built as multi-member gzip streams (cheap to make):

- zeros: a ~4 MiB .tar.gz whose one member is 4 GiB of zeros;
- members: a ~2 MiB .tar.gz of 2,000,000 empty members.

The stand-in (``rules.archives.valid_dist_file``, default limits) refuses both
after bounded work. The baseline is what warehouse's ``_is_valid_dist_file``
does for a tar, ``tarfile.open(..., "r:gz").getnames()``, run on inputs scaled
down 10x (400 MiB of zeros, 200,000 members) so the machine survives it; its
cost grows linearly with the real sizes. Peak memory is tracemalloc's
(Python allocations), in separate runs from the timings. Exit 1 if the
stand-in takes more than 10 s or 64 MiB on either full-size bomb (tarfile
parses a header in ~50-100 us on the shared machine: 50,000 members, the
cap, cost 2.5-5 s).
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

from _common import gz, tar_header

from tokentool.index.rules import Site, Upload, UploadError
from tokentool.index.rules.archives import valid_dist_file


def zeros(path: Path, mib: int) -> None:
    block = gz(bytes(1024**2))
    with open(path, "wb") as out:
        out.write(gz(tar_header("b-1.0/PKG-INFO", 0) + tar_header("b-1.0/z", mib << 20)))
        for _ in range(mib):
            out.write(block)


def members(path: Path, count: int) -> None:
    block = gz(tar_header("b-1.0/e", 0) * 1000)
    with open(path, "wb") as out:
        out.write(gz(tar_header("b-1.0/PKG-INFO", 0)))
        for _ in range(count // 1000):
            out.write(block)


def standin(path: Path) -> str:
    up = Upload(site=Site(), fields={}, filename="b-1.0.tar.gz", path=path)
    try:
        valid_dist_file(up)
    except UploadError as exc:
        return exc.message
    return "accepted"


def warehouse_way(path: Path) -> str:
    with tarfile.open(path, "r:gz") as tar:
        return f"listed {len(tar.getnames())} names"


def measure(fn: object, path: Path) -> tuple[float, float, str]:
    start = time.perf_counter()
    result = fn(path)  # type: ignore[operator]
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn(path)  # type: ignore[operator]
    peak = tracemalloc.get_traced_memory()[1] / 1024**2
    tracemalloc.stop()
    return seconds, peak, result


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = [
            ("4 GiB of zeros", zeros, 4096, 409),
            ("2,000,000 members", members, 2_000_000, 200_000),
        ]
        print("| bomb | file | stand-in (full size) | warehouse's getnames (1/10 size) |")
        print("| --- | --- | --- | --- |")
        for label, make, full, tenth in cases:
            big, small = root / "big.tar.gz", root / "small.tar.gz"
            make(big, full)
            make(small, tenth)
            s_time, s_peak, s_result = measure(standin, big)
            w_time, w_peak, w_result = measure(warehouse_way, small)
            size = big.stat().st_size / 1024**2
            print(
                f"| {label} | {size:.1f} MiB | {s_time:.2f} s, {s_peak:.1f} MiB peak: "
                f"{s_result!r} | {w_time:.2f} s, {w_peak:.1f} MiB peak ({w_result}) |"
            )
            ok = ok and s_time < 10 and s_peak < 64 and s_result != "accepted"
    print("targets (stand-in < 10 s and < 64 MiB, refused):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
