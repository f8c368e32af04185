"""The stand-in index vs bare pypiserver and devpi-server, side by side in one run.

Uploads: all three servers run as real processes on 127.0.0.1 with 8 threads
and receive the same pre-built wheels from the same 8 concurrent HTTP clients
(threads with a requests.Session each; no twine processes, so the server is
what is measured). pypiserver runs with authentication off; devpi-server
(``devpi-init --no-root-pypi``, offline) gets its login token (X-Devpi-Auth, as
devpi-client sends it) and a fresh volatile index per round; the stand-in
authenticates every upload with a token, evaluates its caveats, validates form,
metadata and file and records it in SQLite. Rounds rotate the order;
the median round counts. Targets: >= 1.5x pypiserver's and >= devpi-server's
uploads/s.

Reads: two stand-ins, one with 10 projects and one with 10,000 (seeded through
the database layer, with real files), answer ``/simple/<p>/`` (pip's Accept
header, JSON) and ``/pypi/<p>/json`` for random projects, requests alternating
between them. Target: p99 at 10,000 projects within 2x of p99 at 10.

Hostile clients: a project page's p50 for one well-behaved client, idle and
then with 1,000 slowloris connections and 16 downloads that never read open
(reported, no target: every request must be answered).

Team (issue 17): the same 8 clients against SQLite with 1 process, PostgreSQL
with 1 process and PostgreSQL with 2 processes (round robin), files in the
database, rounds rotated; and ``/simple/<p>/`` on PostgreSQL with 100,000
projects against 10. A throwaway PostgreSQL is started (tests/pgcluster.py).
Targets: PostgreSQL 1 process >= 0.8x SQLite, 2 processes >= 1.3x 1, p99 at
100,000 within 2x of p99 at 10.

    python benchmarks/bench_index.py [--clients 8] [--uploads 40] [--rounds 3] [--strict]
        [--only uploads|reads|hostile|team] [--team-projects 100000]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import random
import shutil
import socket
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

TARGET_BARE = 1.5
TARGET_DEVPI = 1.0
TARGET_READ = 2.0
#: PostgreSQL (1 process) against SQLite, and 2 processes against 1 (issue 17).
TARGET_PG = 0.8
TARGET_SCALE = 1.3
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)


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
    url: str | list[str],
    jobs: list[list[tuple[str, str, str, bytes]]],
    auth: Callable[[int], dict[str, str]],
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs) + 1)

    urls = [url] if isinstance(url, str) else url

    def client(number: int) -> None:
        headers = auth(number)
        target = urls[number % len(urls)]  # round robin, as behind a load balancer
        mine: list[float] = []
        with requests.Session() as session:
            barrier.wait()
            for project, version, filename, data in jobs[number]:
                started = time.perf_counter()
                response = session.post(
                    target,
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
        return run_clients(url, jobs, lambda _n: {})
    finally:
        process.terminate()
        process.wait(15)


def measure_standin(jobs: list, threads: int, workdir: Path) -> tuple[float, list[float]]:
    with start_server(workdir / "standin", new_project_limit=0, threads=threads) as server:
        tokens = [server.mint(f"bench-user{n}") for n in range(len(jobs))]

        def auth(n: int) -> dict[str, str]:
            raw = base64.b64encode(f"__token__:{tokens[n]}".encode()).decode()
            return {"Authorization": f"Basic {raw}"}

        return run_clients(server.upload_url, jobs, auth)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Devpi:
    """One devpi-server for the whole run; each round uploads into a fresh index."""

    def __init__(self, workdir: Path, threads: int) -> None:
        bindir = Path(sys.executable).parent
        serverdir = workdir / "devpi"
        subprocess.run(
            [
                str(bindir / "devpi-init"),
                "--serverdir",
                str(serverdir),
                "--no-root-pypi",
                "--root-passwd",
                "bench",
            ],
            check=True,
            capture_output=True,
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                str(bindir / "devpi-server"),
                "--serverdir",
                str(serverdir),
                "--host",
                "127.0.0.1",
                "--port",
                self.url.rpartition(":")[2],
                "--threads",
                str(threads),
                "--offline-mode",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(self.url + "/", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("devpi-server did not start") from None
                time.sleep(0.2)
        login = requests.post(
            self.url + "/+login",
            json={"user": "root", "password": "bench"},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        login.raise_for_status()
        token = login.json()["result"]["password"]
        self.auth = {"X-Devpi-Auth": base64.b64encode(f"root:{token}".encode()).decode()}
        self.rounds = 0

    def new_index(self) -> str:
        self.rounds += 1
        name = f"root/bench{self.rounds}"
        made = requests.put(
            f"{self.url}/{name}",
            json={"type": "stage", "bases": [], "volatile": True},
            headers={**self.auth, "Accept": "application/json"},
            timeout=30,
        )
        made.raise_for_status()
        return f"{self.url}/{name}/"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def measure_devpi(devpi: Devpi, jobs: list) -> tuple[float, list[float]]:
    return run_clients(devpi.new_index(), jobs, lambda _n: devpi.auth)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_uploads(args: argparse.Namespace, workdir: Path) -> bool:
    jobs = build_jobs(args.clients, args.uploads, args.size)
    total = args.clients * args.uploads
    kinds = ["bare", "standin", "devpi"]
    results: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
    devpi = Devpi(workdir, args.threads)
    try:
        for round_number in range(args.rounds):
            order = kinds[round_number % 3 :] + kinds[: round_number % 3]
            for kind in order:
                with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
                    if kind == "bare":
                        result = measure_bare(jobs, args.threads, Path(tmp))
                    elif kind == "standin":
                        result = measure_standin(jobs, args.threads, Path(tmp))
                    else:
                        result = measure_devpi(devpi, jobs)
                results[kind].append(result)
    finally:
        devpi.stop()

    def summary(kind: str) -> tuple[float, float, float]:
        rates = [total / elapsed for elapsed, _ in results[kind]]
        all_latencies = [lat for _, lats in results[kind] for lat in lats]
        return (
            statistics.median(rates),
            percentile(all_latencies, 0.5),
            percentile(all_latencies, 0.99),
        )

    rows = {kind: summary(kind) for kind in kinds}
    print(
        f"uploads: {args.clients} clients x {args.uploads} per round, {args.rounds} rounds, "
        f"~{args.size // 1024} KiB wheels, {args.threads} threads each"
    )
    print(f"{'server':<40}{'uploads/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    labels = {
        "bare": "bare pypiserver (auth off)",
        "devpi": "devpi-server (login token)",
        "standin": "tokentool stand-in (tokens, SQLite)",
    }
    for kind in ("bare", "devpi", "standin"):
        rate, p50, p99 = rows[kind]
        print(f"{labels[kind]:<40}{rate:>12.1f}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}")
    vs_bare = rows["standin"][0] / rows["bare"][0]
    vs_devpi = rows["standin"][0] / rows["devpi"][0]
    met_bare, met_devpi = vs_bare >= TARGET_BARE, vs_devpi >= TARGET_DEVPI
    print(
        f"stand-in/pypiserver: {vs_bare:.2f}x (target >= {TARGET_BARE}x: "
        f"{'met' if met_bare else 'MISSED'})"
    )
    print(
        f"stand-in/devpi-server: {vs_devpi:.2f}x (target >= {TARGET_DEVPI}x: "
        f"{'met' if met_devpi else 'MISSED'})"
    )
    return met_bare and met_devpi


def seed(data_dir: Path, projects: int) -> list[str]:
    """``projects`` projects with one release and one real (tiny) wheel each, in one go."""
    from tokentool.index._db import Database, NewFile, NewRelease

    db = Database(data_dir)
    names = []
    with db.transaction() as tx:
        user = tx.ensure_user("seed")
        for n in range(projects):
            name = f"seeded-{n:05d}"
            project = tx.create_project(name, name, user)
            filename = f"seeded_{n:05d}-1.0-py3-none-any.whl"
            data = f"wheel {n}".encode()
            (db.packages_dir / filename).write_bytes(data)
            tx.ensure_release(NewRelease(project.id, "1.0", "1", ">=3.8", False, "{}"))
            tx.add_file(
                NewFile(
                    project_id=project.id,
                    version="1.0",
                    canonical_version="1",
                    packagetype="bdist_wheel",
                    filename=filename,
                    size=len(data),
                    md5_digest=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    sha256_digest=hashlib.sha256(data).hexdigest(),
                    blake2_256_digest=hashlib.blake2b(data, digest_size=32).hexdigest(),
                    uploaded_by=user,
                    python_version="py3",
                    metadata=b"Name: x\n",
                )
            )
            names.append(name)
    db.close()
    return names


def bench_reads(args: argparse.Namespace, workdir: Path) -> bool:
    sizes = (10, 10_000)
    servers = {}
    names = {}
    try:
        for size in sizes:
            names[size] = seed(workdir / f"reads{size}", size)
            servers[size] = start_server(workdir / f"reads{size}")
        rng = random.Random(1)
        samples: dict[tuple[int, str], list[float]] = {
            (size, kind): [] for size in sizes for kind in ("simple", "json")
        }
        sessions = {size: requests.Session() for size in sizes}
        for n in range(args.reads + 50):
            for size in sizes if n % 2 == 0 else sizes[::-1]:
                server = servers[size]
                name = rng.choice(names[size])
                for kind, url, headers in (
                    ("simple", f"{server.simple_url}{name}/", {"Accept": PIP_ACCEPT}),
                    ("json", f"{server.url}pypi/{name}/json", {}),
                ):
                    started = time.perf_counter()
                    response = sessions[size].get(url, headers=headers, timeout=30)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"{url}: {response.status_code}")
                    if n >= 50:  # the first 50 warm up both servers
                        samples[(size, kind)].append(elapsed)
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nreads: {args.reads} requests per route and size, one client, alternating")
    print(f"{'route':<28}{'projects':>10}{'p50 ms':>10}{'p99 ms':>10}")
    ok = True
    for kind, label in (("simple", "/simple/<p>/ (JSON)"), ("json", "/pypi/<p>/json")):
        for size in sizes:
            values = samples[(size, kind)]
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(f"{label:<28}{size:>10,}{p50 * 1000:>10.2f}{p99 * 1000:>10.2f}")
        ratio = percentile(samples[(10_000, kind)], 0.99) / percentile(samples[(10, kind)], 0.99)
        met = ratio <= TARGET_READ
        ok &= met or kind != "simple"
        print(
            f"  p99 at 10,000 / p99 at 10: {ratio:.2f}x (target <= {TARGET_READ}x: "
            f"{'met' if met else 'MISSED'})"
        )
    return ok


def seed_bulk(url: str, projects: int) -> list[str]:
    """``projects`` projects (one release, one tiny wheel each, its content in the
    database) in PostgreSQL, inserted in batches through the schema's tables."""
    import sqlalchemy as sa

    from tokentool.index import _schema as s
    from tokentool.index._db import Database

    db = Database(None, url)
    names = []
    now = time.time()
    user = "00000000-0000-4000-8000-000000000001"
    with db.engine.begin() as conn:
        conn.execute(sa.insert(s.users).values(id=user, username="seed", created=now))
        for start in range(0, projects, 5000):
            batch = range(start, min(projects, start + 5000))
            rows: dict[str, list[dict[str, object]]] = {
                "projects": [],
                "roles": [],
                "releases": [],
                "files": [],
                "chunks": [],
            }
            for n in batch:
                name = f"seeded-{n:06d}"
                pid = f"00000000-0000-4000-9000-{n:012d}"
                filename = f"seeded_{n:06d}-1.0-py3-none-any.whl"
                data = f"wheel {n}".encode()
                names.append(name)
                rows["projects"].append(
                    {"id": pid, "name": name, "normalized_name": name, "created": now}
                )
                rows["roles"].append({"project_id": pid, "user_id": user, "role_name": "Owner"})
                rows["releases"].append(
                    {
                        "project_id": pid,
                        "version": "1.0",
                        "canonical_version": "1",
                        "requires_python": ">=3.8",
                        "is_prerelease": False,
                        "info": "{}",
                        "created": now,
                    }
                )
                rows["files"].append(
                    {
                        "project_id": pid,
                        "version": "1.0",
                        "canonical_version": "1",
                        "packagetype": "bdist_wheel",
                        "filename": filename,
                        "size": len(data),
                        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                        "sha256_digest": hashlib.sha256(data).hexdigest(),
                        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
                        "uploaded": now,
                        "uploaded_by": user,
                        "python_version": "py3",
                    }
                )
                rows["chunks"].append({"filename": filename, "seq": 0, "data": data})
            for table, key in (
                (s.projects, "projects"),
                (s.roles, "roles"),
                (s.releases, "releases"),
                (s.files, "files"),
                (s.file_chunks, "chunks"),
            ):
                conn.execute(sa.insert(table), rows[key])
        conn.exec_driver_sql("ANALYZE")
    db.close()
    return names


def bench_team(args: argparse.Namespace, workdir: Path) -> bool:
    """SQLite 1 process vs PostgreSQL 1 and 2 processes (uploads); reads at 100,000 projects."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pgcluster import throwaway_cluster

    jobs = build_jobs(args.clients, args.uploads, args.size)
    total = args.clients * args.uploads
    # pg1-2t is no contender but the evidence for what bounds one process: the same
    # process with 2 threads instead of 8 (see benchmarks/README.md, team set-ups).
    kinds = ["sqlite", "pg1", "pg2", "pg1-2t"]
    results: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
    reads_ok = True
    with throwaway_cluster() as cluster:
        for round_number in range(args.rounds):
            turn = round_number % len(kinds)
            for kind in kinds[turn:] + kinds[:turn]:
                folder = workdir / f"team-{kind}-{round_number}"
                if kind == "sqlite":
                    options: dict[str, object] = {}
                else:
                    options = {"database": cluster.new_database(), "files_in_database": True}
                count = 2 if kind == "pg2" else 1
                threads = 2 if kind == "pg1-2t" else args.threads
                servers = [
                    start_server(folder / str(n), new_project_limit=0, threads=threads, **options)
                    for n in range(count)
                ]
                try:
                    tokens = [servers[0].mint(f"bench{n}") for n in range(args.clients)]
                    results[kind].append(
                        run_clients(
                            [server.upload_url for server in servers],
                            jobs,
                            lambda n, tokens=tokens: {"Authorization": _basic(tokens[n])},
                        )
                    )
                finally:
                    for server in servers:
                        server.stop()
        rates = {k: statistics.median(total / e for e, _ in results[k]) for k in kinds}
        print(
            f"\nteam: {args.clients} clients x {args.uploads} uploads, {args.rounds} rounds "
            f"(median), {args.threads} threads per process, files in the database for PostgreSQL"
        )
        print(f"{'set-up':<40}{'uploads/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
        labels = {
            "sqlite": "SQLite, 1 process",
            "pg1": "PostgreSQL, 1 process",
            "pg2": "PostgreSQL, 2 processes (round robin)",
            "pg1-2t": "  (PostgreSQL, 1 process of 2 threads)",
        }
        for kind in kinds:
            lats = [lat for _, lats in results[kind] for lat in lats]
            print(
                f"{labels[kind]:<40}{rates[kind]:>12.1f}"
                f"{percentile(lats, 0.5) * 1000:>10.1f}{percentile(lats, 0.99) * 1000:>10.1f}"
            )
        pg_vs_sqlite = rates["pg1"] / rates["sqlite"]
        two_vs_one = rates["pg2"] / rates["pg1"]
        print(
            f"PostgreSQL 1 process / SQLite: {pg_vs_sqlite:.2f}x (target >= {TARGET_PG}x: "
            f"{'met' if pg_vs_sqlite >= TARGET_PG else 'MISSED'})"
        )
        print(
            f"PostgreSQL 2 processes / 1: {two_vs_one:.2f}x (target >= {TARGET_SCALE}x: "
            f"{'met' if two_vs_one >= TARGET_SCALE else 'MISSED'})"
        )
        upload_ok = pg_vs_sqlite >= TARGET_PG and two_vs_one >= TARGET_SCALE

        sizes = (10, args.team_projects)
        servers_by_size = {}
        names = {}
        try:
            for size in sizes:
                url = cluster.new_database()
                started = time.perf_counter()
                names[size] = seed_bulk(url, size)
                print(f"seeded {size:,} projects in {time.perf_counter() - started:.1f} s")
                servers_by_size[size] = start_server(
                    workdir / f"team-reads{size}", database=url, files_in_database=True
                )
            rng = random.Random(3)
            samples: dict[int, list[float]] = {size: [] for size in sizes}
            with requests.Session() as session:
                for n in range(args.reads + 50):
                    for size in sizes if n % 2 == 0 else sizes[::-1]:
                        url = f"{servers_by_size[size].simple_url}{rng.choice(names[size])}/"
                        started = time.perf_counter()
                        response = session.get(url, headers={"Accept": PIP_ACCEPT}, timeout=30)
                        elapsed = time.perf_counter() - started
                        if response.status_code != 200:
                            raise SystemExit(f"{url}: {response.status_code}")
                        if n >= 50:
                            samples[size].append(elapsed)
        finally:
            for server in servers_by_size.values():
                server.stop()
        print(f"{'/simple/<p>/ on PostgreSQL':<28}{'projects':>10}{'p50 ms':>10}{'p99 ms':>10}")
        for size in sizes:
            p50, p99 = percentile(samples[size], 0.5), percentile(samples[size], 0.99)
            print(f"{'':<28}{size:>10,}{p50 * 1000:>10.2f}{p99 * 1000:>10.2f}")
        ratio = percentile(samples[sizes[1]], 0.99) / percentile(samples[10], 0.99)
        reads_ok = ratio <= TARGET_READ
        print(
            f"  p99 at {sizes[1]:,} / p99 at 10: {ratio:.2f}x (target <= {TARGET_READ}x: "
            f"{'met' if reads_ok else 'MISSED'})"
        )
    return upload_ok and reads_ok


def _basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()


def _get_times(session: requests.Session, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, headers={"Accept": PIP_ACCEPT}, timeout=30)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
    return times


def bench_hostile(args: argparse.Namespace, workdir: Path) -> None:
    """A project page, idle vs with 1,000 slowloris connections and 16 non-reading downloads."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    names = seed(workdir / "hostile", 10)
    with start_server(workdir / "hostile", threads=args.threads) as server:
        page = f"{server.simple_url}{names[0]}/"
        held: list[socket.socket] = []
        with requests.Session() as session:
            idle = _get_times(session, page, 200)
            try:
                for _ in range(1000):
                    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                    sock.sendall(b"GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    held.append(sock)
                # The seeded files are tiny: make one 32 MiB, for readers who never read.
                data = os.urandom(32 * 1024 * 1024)
                name = "seeded_00001-1.0-py3-none-any.whl"
                (workdir / "hostile" / "packages" / name).write_bytes(data)
                import sqlalchemy as sa

                from tokentool.index import _schema
                from tokentool.index._db import Database

                db = Database(workdir / "hostile")
                files = _schema.files
                with db.transaction() as tx:
                    assert tx.conn is not None
                    tx.conn.execute(
                        sa.update(files)
                        .where(files.c.filename == name)
                        .values(
                            size=len(data),
                            blake2_256_digest=hashlib.blake2b(data, digest_size=32).hexdigest(),
                        )
                    )
                db.close()
                listed = session.get(
                    f"{server.simple_url}{names[1]}/", headers={"Accept": PIP_ACCEPT}, timeout=30
                ).json()["files"][0]["url"]
                for _ in range(16):
                    sock = socket.socket()
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    sock.connect(("127.0.0.1", server.port))
                    sock.sendall(f"GET {listed} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    held.append(sock)
                time.sleep(0.5)
                hostile = _get_times(session, page, 200)
            finally:
                for sock in held:
                    sock.close()
    a, b = statistics.median(idle), statistics.median(hostile)
    print(f"\nhostile clients ({args.threads} threads): /simple/<p>/ with one well-behaved client")
    print(f"  idle server:{'':<41}p50 {a * 1000:6.2f} ms")
    print(
        f"  1,000 slowloris + 16 non-reading 32 MiB downloads: p50 {b * 1000:6.2f} ms "
        f"({b / a:.2f}x of idle; every request answered)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=40, help="uploads per client and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=16 * 1024, help="approximate wheel payload")
    parser.add_argument("--threads", type=int, default=8, help="server threads, every server")
    parser.add_argument("--reads", type=int, default=2000, help="read requests per route and size")
    parser.add_argument(
        "--team-projects", type=int, default=100_000, help="projects for the PostgreSQL reads"
    )
    parser.add_argument(
        "--only",
        choices=["uploads", "reads", "hostile", "team"],
        help="run one part (default: all, side by side)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-index-"))
    ok = True
    try:
        if args.only in (None, "uploads"):
            ok &= bench_uploads(args, workdir)
        if args.only in (None, "reads"):
            ok &= bench_reads(args, workdir)
        if args.only in (None, "hostile"):
            bench_hostile(args, workdir)
        if args.only in (None, "team"):
            ok &= bench_team(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
