"""``upload --dist``: reading a file's project from its metadata, bounded, vs twine's reader.

Contenders, side by side on the same files:

- tokentool: ``workflow._dists.read_dist`` (stream, stops at PKG-INFO, bounded);
- twine: ``twine.sdist.SDist(path).read()``, what twine upload runs on each file
  (lists every member, then reads PKG-INFO).

Files: a normal sdist (200 small members, PKG-INFO last as hatchling writes
it), and two hostile ones built as multi-member gzip streams: 2 GiB of zeros
before PKG-INFO, and 1,000,000 empty members before PKG-INFO (twine on a 1/10
scale: its cost grows linearly). Exit 1 if tokentool is more than 1.5x twine
on the normal file or takes more than 10 s on a hostile one.
"""

from __future__ import annotations

import io
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _common import gz, tar_header

from tokentool.exceptions import ConfigError
from tokentool.workflow._dists import read_dist

METADATA = b"Metadata-Version: 2.1\nName: Bench.Mark\nVersion: 1.0\n"


def _member(name: str, data: bytes) -> bytes:
    padding = b"\0" * (-len(data) % 512)
    return tar_header(name, len(data)) + data + padding


def normal(path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(200):
            data = f"VALUE = {i}\n".encode() * 20
            info = tarfile.TarInfo(f"bench_mark-1.0/src/m{i}.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("bench_mark-1.0/PKG-INFO")
        info.size = len(METADATA)
        tar.addfile(info, io.BytesIO(METADATA))
    path.write_bytes(gz(buffer.getvalue()))


def zeros(path: Path, mib: int) -> None:
    block = gz(bytes(1024**2))
    with open(path, "wb") as out:
        out.write(gz(tar_header("bench_mark-1.0/z", mib << 20)))
        for _ in range(mib):
            out.write(block)
        out.write(gz(_member("bench_mark-1.0/PKG-INFO", METADATA) + b"\0" * 1024))


def members(path: Path, count: int) -> None:
    block = gz(tar_header("bench_mark-1.0/e", 0) * 1000)
    with open(path, "wb") as out:
        for _ in range(count // 1000):
            out.write(block)
        out.write(gz(_member("bench_mark-1.0/PKG-INFO", METADATA) + b"\0" * 1024))


def tokentool_way(path: Path) -> str:
    try:
        return f"read {read_dist(path).project}"
    except ConfigError as exc:
        return f"refused: {exc}".replace(str(path), path.name)


def twine_way(path: Path) -> str:
    from twine.sdist import SDist

    return f"read {len(SDist(str(path)).read())} bytes of PKG-INFO"


def timed(fn: object, path: Path, repeat: int = 1) -> tuple[float, str]:
    samples, result = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(path)  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = root / "bench_mark-1.0.tar.gz"
        normal(plain)
        for fn in (tokentool_way, twine_way):  # warm-up
            fn(plain)
        ours, _ = timed(tokentool_way, plain, 51)
        theirs, _ = timed(twine_way, plain, 51)
        print("| file | tokentool read_dist | twine's SDist.read | ratio |")
        print("| --- | --- | --- | --- |")
        print(
            f"| normal sdist, 201 members, PKG-INFO last | {ours * 1000:.2f} ms | "
            f"{theirs * 1000:.2f} ms | **{ours / theirs:.2f}x** |"
        )
        ok &= ours / theirs <= 1.5
        cases = [("2 GiB of zeros", zeros, 2048, 205), ("1,000,000 members", members, 10**6, 10**5)]
        for label, make, full, tenth in cases:
            big, small = root / "big-1.0.tar.gz", root / "small-1.0.tar.gz"
            make(big, full)
            make(small, tenth)
            s_time, s_result = timed(tokentool_way, big)
            t_time, t_result = timed(twine_way, small)
            print(
                f"| {label} before PKG-INFO ({big.stat().st_size / 1024**2:.1f} MiB) | "
                f"{s_time:.2f} s: {s_result} | {t_time:.2f} s at 1/10 size ({t_result}); "
                f"~{t_time * 10:.0f} s full size | |"
            )
            ok &= s_time < 10 and s_result.startswith("refused")
    print("targets (normal <= 1.5x twine; hostile < 10 s, refused):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
