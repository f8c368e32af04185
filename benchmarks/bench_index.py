"""Upload throughput of the stand-in index vs. bare pypiserver, side by side in one run.

Both servers run as real processes on 127.0.0.1 under waitress with the same
number of threads and receive the same pre-built wheels from the same 8
concurrent HTTP clients (threads with a requests.Session each; no twine
processes, so the server is what is measured). The baseline is pypiserver with
authentication off; the stand-in authenticates every upload with a token,
evaluates its caveats, validates form, metadata and file and records it in
SQLite. Rounds alternate between the two on fresh data folders; the median
round counts. Target: the stand-in keeps >= 0.8x of the baseline's throughput.

    python benchmarks/bench_index.py [--clients 8] [--uploads 40] [--rounds 3] [--strict]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tokentool.index import start_server  # noqa: E402

TARGET = 0.8


def wheel_bytes(name: str, version: str, size: int) -> tuple[str, bytes]:
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{module}/__init__.py", f"VERSION = {version!r}\n")
        zf.writestr(f"{module}/data.txt", ("x" * 64 + "\n") * (size // 65))
        zf.writestr(
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: bench\n",
        )
        zf.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{dist_info}/RECORD", "")
    return f"{module}-{version}-py3-none-any.whl", buffer.getvalue()


def build_jobs(clients: int, uploads: int, size: int) -> list[list[tuple[str, str, str, bytes]]]:
    """Per client: (project, version, filename, bytes); the same files for both servers."""
    jobs = []
    for c in range(clients):
        project = f"bench-client{c}"
        files = []
        for n in range(uploads):
            version = f"1.{n}"
            filename, data = wheel_bytes(project, version, size)
            files.append((project, version, filename, data))
        jobs.append(files)
    return jobs


def form(project: str, version: str, data: bytes) -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": project,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }


def run_clients(
    url: str, jobs: list[list[tuple[str, str, str, bytes]]], auth: Callable[[int], str | None]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs) + 1)

    def client(number: int) -> None:
        headers = {"Authorization": a} if (a := auth(number)) else {}
        mine: list[float] = []
        with requests.Session() as session:
            barrier.wait()
            for project, version, filename, data in jobs[number]:
                started = time.perf_counter()
                response = session.post(
                    url,
                    data=form(project, version, data),
                    files={"content": (filename, data, "application/octet-stream")},
                    headers=headers,
                    timeout=120,
                )
                mine.append(time.perf_counter() - started)
                if response.status_code != 200:
                    with lock:
                        failures.append(f"{response.status_code} {response.reason}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(jobs))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} uploads failed, e.g. {failures[0]}")
    return elapsed, latencies


def start_bare(root: Path, threads: int) -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("_index_bare.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(root), "--threads", str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("Serving on "):
        process.kill()
        raise SystemExit(f"bare pypiserver did not start: {line!r}")
    return process, line.removeprefix("Serving on ").strip()


def measure_bare(jobs: list, threads: int, workdir: Path) -> tuple[float, list[float]]:
    process, url = start_bare(workdir / "bare", threads)
    try:
        return run_clients(url, jobs, lambda _n: None)
    finally:
        process.terminate()
        process.wait(15)


def measure_standin(jobs: list, threads: int, workdir: Path) -> tuple[float, list[float]]:
    with start_server(workdir / "standin", new_project_limit=0, threads=threads) as server:
        tokens = [server.mint(f"bench-user{n}") for n in range(len(jobs))]

        def auth(n: int) -> str:
            return "Basic " + base64.b64encode(f"__token__:{tokens[n]}".encode()).decode()

        return run_clients(server.upload_url, jobs, auth)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=40, help="uploads per client and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=16 * 1024, help="approximate wheel payload")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads, both servers")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)

    jobs = build_jobs(args.clients, args.uploads, args.size)
    total = args.clients * args.uploads
    results: dict[str, list[tuple[float, list[float]]]] = {"bare": [], "standin": []}
    for round_number in range(args.rounds):
        for kind in ("bare", "standin") if round_number % 2 == 0 else ("standin", "bare"):
            with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
                measure = measure_bare if kind == "bare" else measure_standin
                results[kind].append(measure(jobs, args.threads, Path(tmp)))

    def summary(kind: str) -> tuple[float, float, float]:
        rates = [total / elapsed for elapsed, _ in results[kind]]
        median_rate = statistics.median(rates)
        all_latencies = [lat for _, lats in results[kind] for lat in lats]
        return median_rate, percentile(all_latencies, 0.5), percentile(all_latencies, 0.99)

    bare = summary("bare")
    standin = summary("standin")
    ratio = standin[0] / bare[0]
    print(
        f"uploads: {args.clients} clients x {args.uploads} per round, {args.rounds} rounds, "
        f"~{args.size // 1024} KiB wheels, {args.threads} waitress threads"
    )
    print(f"{'server':<24}{'uploads/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for label, (rate, p50, p99) in (
        ("bare pypiserver", bare),
        ("tokentool stand-in", standin),
    ):
        print(f"{label:<24}{rate:>12.1f}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}")
    met = ratio >= TARGET
    print(f"ratio stand-in/bare: {ratio:.2f}x (target >= {TARGET}x: {'met' if met else 'MISSED'})")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
