"""Where the token comes from: each source, the documented precedence, masked failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
from helpers import mint_raw, write_env

from tokentool.exceptions import ConfigError
from tokentool.workflow import SOURCES, load_config

URL = "https://test.pypi.org/legacy/"
LOCAL_URL = "http://127.0.0.1:8080/legacy/"
T = {name: mint_raw() for name in ("env", "dotenv", "keyring", "pypirc", "twine", "prompt")}


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend (the API twine calls) that keeps passwords in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.fail = fail
        self.writes = 0

    def get_password(self, service: str, username: str) -> str | None:
        if self.fail:
            raise RuntimeError(f"backend broke on {self.store}")
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.writes += 1
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.writes += 1
        del self.store[(service, username)]


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    saved = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(saved)


def _pypirc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pypirc"
    path.write_text(text)
    return path


def _all_sources(tmp_path: Path, ring: MemoryKeyring, url: str) -> tuple[Path, dict, Path]:
    env = write_env(tmp_path, TOKEN=T["dotenv"], REPOSITORY_URL=url)
    ring.store[(url, "__token__")] = T["keyring"]
    pypirc = _pypirc(
        tmp_path,
        "[distutils]\nindex-servers = local testpypi\n"
        f"[local]\nrepository = {LOCAL_URL.rstrip('/')}\nusername = __token__\n"
        f"password = {T['pypirc']}\n"
        f"[testpypi]\nusername = __token__\npassword = {T['pypirc']}\n",
    )
    environ = {"TOKEN": T["env"], "TWINE_PASSWORD": T["twine"]}
    return env, environ, pypirc


@pytest.mark.parametrize("url", [URL, LOCAL_URL])
def test_precedence_each_source_in_turn(tmp_path: Path, ring: MemoryKeyring, url: str) -> None:
    """Remove the winning source one by one: the next in the documented order wins."""
    env, environ, pypirc = _all_sources(tmp_path, ring, url)

    def load() -> tuple[str, str]:
        config = load_config(env, environ, pypirc=pypirc, prompt=lambda: T["prompt"])
        return config.token.dump(), config.source

    section = "local" if url == LOCAL_URL else "testpypi"
    expected = [
        (T["env"], "TOKEN in the environment"),
        (T["dotenv"], f"TOKEN in {env}"),
        (T["keyring"], f"keyring ({url}, __token__)"),
        (T["pypirc"], f"{pypirc} [{section}]"),
        (T["twine"], "TWINE_PASSWORD in the environment"),
        (T["prompt"], "the prompt"),
    ]
    assert len(expected) == len(SOURCES)
    removals = [
        lambda: environ.pop("TOKEN"),
        lambda: write_env(tmp_path, REPOSITORY_URL=url),
        lambda: ring.store.clear(),
        lambda: pypirc.write_text(""),
        lambda: environ.pop("TWINE_PASSWORD"),
    ]
    for number, (token, source) in enumerate(expected):
        assert load() == (token, source), number
        if number < len(removals):
            removals[number]()
    assert ring.writes == 0, "nothing is ever written back"


def test_no_source_and_no_prompt_is_one_sentence(tmp_path: Path, ring: MemoryKeyring) -> None:
    with pytest.raises(ConfigError, match=r"^no token found: set TOKEN in .*\.env"):
        load_config(tmp_path / ".env", {}, pypirc=tmp_path / "none")


def test_keyring_is_asked_for_the_repository_url_only(tmp_path: Path, ring: MemoryKeyring) -> None:
    ring.store[("https://upload.pypi.org/legacy/", "__token__")] = T["keyring"]
    with pytest.raises(ConfigError, match=r"^no token found"):
        load_config(None, {}, index_url=URL, pypirc=None)
    ring.store[(URL, "__token__")] = T["keyring"]
    config = load_config(None, {}, index_url=URL, pypirc=None)
    assert (config.token.dump(), config.source) == (T["keyring"], f"keyring ({URL}, __token__)")
    with pytest.raises(ConfigError, match=r"^no token found"):
        load_config(None, {}, index_url=URL, pypirc=None, keyring=False)


def test_a_failing_keyring_is_named_not_quoted_and_passed_over(tmp_path: Path) -> None:
    saved = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring(fail=True))
    try:
        config = load_config(None, {"TWINE_PASSWORD": T["twine"]}, index_url=URL, pypirc=None)
    finally:
        keyring.set_keyring(saved)
    assert config.source == "TWINE_PASSWORD in the environment"
    assert config.warnings == (
        "warning: keyring could not be read (RuntimeError); skipped it "
        "(PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring turns it off)",
    )


def test_no_keyring_backend_is_not_an_error() -> None:
    from keyring.backends import fail

    saved = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        config = load_config(None, {"TWINE_PASSWORD": T["twine"]}, index_url=URL, pypirc=None)
    finally:
        keyring.set_keyring(saved)
    assert (config.source, config.warnings) == ("TWINE_PASSWORD in the environment", ())


def test_pypirc_section_must_match_the_url(tmp_path: Path) -> None:
    pypirc = _pypirc(
        tmp_path,
        "[distutils]\nindex-servers = other\n"
        f"[other]\nrepository = https://elsewhere.example/legacy/\npassword = {T['pypirc']}\n",
    )
    with pytest.raises(ConfigError, match=r"^no token found"):
        load_config(None, {}, index_url=LOCAL_URL, pypirc=pypirc, keyring=False)
    found = load_config(
        None, {}, index_url="HTTPS://elsewhere.example/legacy", pypirc=pypirc, keyring=False
    )
    assert found.token.dump() == T["pypirc"]


def test_a_broken_pypirc_never_quotes_its_lines(tmp_path: Path) -> None:
    secret = T["pypirc"]
    pypirc = _pypirc(tmp_path, f"[testpypi]\n{secret}\n  password\n[[broken\n")
    with pytest.raises(ConfigError) as info:
        load_config(None, {}, index_url=URL, pypirc=pypirc, keyring=False)
    message = str(info.value)
    assert message.startswith(f"{pypirc} could not be read (")
    assert "its content is not shown because it may hold a token" in message
    assert secret not in message and secret[-20:] not in message


def test_a_bad_token_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"TWINE_PASSWORD": "hunter2"}, pypirc=None, keyring=False)
    assert str(info.value) == (
        "the token from TWINE_PASSWORD in the environment is not usable: "
        "this is not a PyPI token: it does not start with 'pypi-'"
    )
    assert "hunter2" not in str(info.value)
