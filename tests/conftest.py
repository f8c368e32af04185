"""Shared fixtures: a real stand-in index process, tiny distributions, real twine.

The index runs as ``python -m tokentool.index serve --port 0`` on 127.0.0.1
(module-scoped: tests use fresh user and project names instead of fresh
servers), once on each backend (``backend``): SQLite in a data folder, and a
real PostgreSQL (a throwaway cluster started once per session, pgcluster.py)
holding the package files too. The helpers the fixtures build on live in
helpers.py, where tests import them from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    TEST_UPLOAD_LIMIT,
    Backend,
    Dists,
    Harness,
    Listener,
    write_dists,
)
from pgcluster import Cluster, throwaway_cluster

from tokentool.index import RunningServer, start_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL for the session; failing to start it fails the test (never skips)."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Where the stand-in keeps its state: every test using it runs on both."""
    if request.param == "sqlite":
        return Backend("sqlite", None)
    return Backend("postgresql", request.getfixturevalue("postgres"))


@pytest.fixture(scope="module")
def index_server(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[RunningServer]:
    """One stand-in per test module and backend: ``.url``, ``.upload_url``, ``.mint()``..."""
    data_dir = tmp_path_factory.mktemp("index")
    with start_server(
        data_dir, max_upload_size=TEST_UPLOAD_LIMIT, **backend.server_options()
    ) as server:
        yield server


@pytest.fixture
def dists(tmp_path: Path) -> Iterator[object]:
    """``dists(name, version="1.0", **options) -> Dists`` written under this test's tmp_path."""
    counter = iter(range(1_000_000))

    def make(name: str, version: str = "1.0", **kwargs: str) -> Dists:
        return write_dists(tmp_path / f"dist{next(counter)}", name, version, **kwargs)

    yield make


@pytest.fixture
def inprocess(tmp_path):
    """The stand-in's WSGI app under waitress in this process: hooks can reach it."""
    with Harness(tmp_path / "data", new_project_limit=0) as harness:
        with harness.served() as served:
            yield served


@pytest.fixture
def any_harness(tmp_path: Path, backend: Backend) -> Iterator[Harness]:
    """In-process, on each backend (PostgreSQL: the package files in the database too)."""
    database = backend.new_database()
    with Harness(
        tmp_path / "data" if database is None else None, database, new_project_limit=0
    ) as h:
        yield h


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by playwright. It fails (never skips) when it cannot start."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        except Exception as exc:  # playwright's Error: no browser, or it died starting
            pytest.fail(
                f"Chromium did not start from {CHROMIUM} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}); install it: apt-get install chromium "
                "(.ci/run does)",
                pytrace=False,
            )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """A loopback server that records every request: proof that nothing was sent."""
    server = Listener()
    yield server
    server.close()
