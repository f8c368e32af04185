"""Configuration: .env without interpolation, environment and options winning, the guards."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from helpers import mint_raw, write_env

import tokentool
from tokentool.exceptions import ConfigError
from tokentool.workflow import (
    DEFAULT_INDEX_URL,
    check_destination,
    default_project,
    site_of,
)
from tokentool.workflow import load_config as _load_config

RAW = mint_raw()


def load_config(*args, **kwargs):
    """Only the given file and environment: no keyring, no ~/.pypirc (test_sources covers them)."""
    kwargs.setdefault("pypirc", None)
    kwargs.setdefault("keyring", False)
    return _load_config(*args, **kwargs)


def test_reads_every_key_from_env_file(tmp_path: Path) -> None:
    env = write_env(tmp_path, TOKEN=RAW, INDEX_URL="http://127.0.0.1:9/legacy/", PYPI_USERNAME="al")
    config = load_config(env, {})
    assert config.token.dump() == RAW
    assert config.index_url == "http://127.0.0.1:9/legacy/"
    assert config.username == "al"
    assert config.source == f"TOKEN in {env}"
    assert config.warnings == ()


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write_env(tmp_path, TOKEN=RAW), {})
    assert config.index_url == DEFAULT_INDEX_URL == "https://test.pypi.org/legacy/"
    assert config.username is None


def test_no_interpolation(tmp_path: Path) -> None:
    env = write_env(tmp_path, TOKEN=RAW, PYPI_USERNAME="${USER}x")
    assert load_config(env, {"USER": "root"}).username == "${USER}x"


def test_environment_wins_over_file_and_options_win_over_both(tmp_path: Path) -> None:
    env = write_env(tmp_path, TOKEN="pypi-garbage", INDEX_URL="http://file/", PYPI_USERNAME="f")
    environ = {"TOKEN": RAW, "INDEX_URL": "http://environ/", "PYPI_USERNAME": "e"}
    config = load_config(env, environ)
    assert (config.token.dump(), config.index_url, config.username) == (
        RAW,
        "http://environ/",
        "e",
    )
    assert config.source == "TOKEN in the environment"
    config = load_config(env, environ, index_url="http://option/legacy", username="o")
    assert (config.index_url, config.username) == ("http://option/legacy/", "o")


def test_missing_file_is_fine_when_environment_has_token(tmp_path: Path) -> None:
    assert load_config(tmp_path / ".env", {"TOKEN": RAW}).token.dump() == RAW


@pytest.mark.parametrize("content", ["", "TOKEN=\n", "TOKEN=   \n", "OTHER=1\n"])
def test_missing_token(tmp_path: Path, content: str) -> None:
    env = tmp_path / ".env"
    env.write_text(content)
    env.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_config(env, {})
    assert str(info.value) == (
        f"no token found: set TOKEN in {env} (see .env.example) or in the environment, "
        "or keep it where twine looks for https://test.pypi.org/legacy/ "
        "(keyring, ~/.pypirc, TWINE_PASSWORD)"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("hello", "this is not a PyPI token: it does not start with 'pypi-'"),
        (RAW[:40], "the token could not be decoded: it is truncated or corrupted"),
    ],
)
def test_malformed_token(tmp_path: Path, value: str, reason: str) -> None:
    env = write_env(tmp_path, TOKEN=value)
    with pytest.raises(ConfigError) as info:
        load_config(env, {})
    assert str(info.value) == f"the token from TOKEN in {env} is not usable: {reason}"
    assert "pypi-Ag" not in str(info.value)


def test_unreadable_env_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    with pytest.raises(ConfigError, match=r"cannot read .*\.env: it is not a regular file$"):
        load_config(tmp_path / ".env", {"TOKEN": RAW})


def test_unreadable_env_not_utf8(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"TOKEN=\xff\xfe\n")
    env.chmod(0o600)
    with pytest.raises(ConfigError, match=r"cannot read .*\.env: it is not UTF-8 text$"):
        load_config(env, {})


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_warns_when_readable_by_others(tmp_path: Path, mode: int) -> None:
    env = write_env(tmp_path, mode=mode, TOKEN=RAW)
    assert load_config(env, {}).warnings == (
        f"warning: {env} is readable by other users and holds a live token; run: chmod 600 {env}",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/", "the repository URL must be an http(s) URL, got 'ftp://x/'"),
        ("not a url", "the repository URL must be an http(s) URL, got 'not a url'"),
        (
            "https://u:p@test.pypi.org/legacy/",
            "the repository URL must not contain credentials: the token is sent separately",
        ),
    ],
)
def test_bad_index_url(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_env(tmp_path, TOKEN=RAW, INDEX_URL=url), {})
    assert str(info.value) == message


def test_default_project_name() -> None:
    day = datetime.date(2021, 3, 7)
    assert default_project("ewjoachim", day) == "test-ewjoachim-2021-03-07"
    config = load_config(None, {"TOKEN": RAW, "PYPI_USERNAME": "ewjoachim"})
    assert config.project_or_default(None, day) == "test-ewjoachim-2021-03-07"
    assert config.project_or_default("Mine", day) == "Mine"


def test_project_name_errors() -> None:
    config = load_config(None, {"TOKEN": RAW})
    with pytest.raises(ConfigError, match=r"^no project name: pass --project=NAME"):
        config.project_or_default(None)
    with pytest.raises(tokentool.RestrictionError) as invalid:
        config.project_or_default("a b")
    assert str(invalid.value) == (
        "invalid project name: 'a b' (a project name is ASCII letters, digits, '.', '_' "
        "and '-', starting and ending with a letter or digit)"
    )
    with pytest.raises(ConfigError, match=r"^PYPI_USERNAME 'a b' does not make a valid project"):
        load_config(None, {"TOKEN": RAW, "PYPI_USERNAME": "a b"}).project_or_default(None)


def test_token_repr_never_shows_token() -> None:
    config = load_config(None, {"TOKEN": RAW})
    assert RAW not in repr(config)
    assert RAW[-30:] not in repr(config)


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://upload.pypi.org/legacy/", "pypi.org"),
        ("https://pypi.org/legacy/", "pypi.org"),
        ("https://test.pypi.org/legacy/", "test.pypi.org"),
        ("http://127.0.0.1:8080/legacy/", "other"),
        ("https://pypi.example.com/legacy/", "other"),
    ],
)
def test_site_of(url: str, site: str) -> None:
    assert site_of(url) == site


TEST = tokentool.load(mint_raw("test.pypi.org"))
PROD = tokentool.load(mint_raw("pypi.org"))
LOCAL = tokentool.load(mint_raw("localhost"))


@pytest.mark.parametrize(
    ("token", "url", "message"),
    [
        (
            PROD,
            "https://test.pypi.org/legacy/",
            "the token was issued by pypi.org but the repository URL points at test.pypi.org "
            "(https://test.pypi.org/legacy/): a pypi.org token only works on pypi.org",
        ),
        (
            TEST,
            "https://upload.pypi.org/legacy/",
            "the token was issued by test.pypi.org but the repository URL points at pypi.org "
            "(https://upload.pypi.org/legacy/): a test.pypi.org token only works on test.pypi.org",
        ),
        (
            TEST,
            "http://127.0.0.1:8080/legacy/",
            "the token was issued by test.pypi.org but the repository URL points at 127.0.0.1 "
            "(http://127.0.0.1:8080/legacy/): a test.pypi.org token only works on test.pypi.org",
        ),
        (
            LOCAL,
            "https://test.pypi.org/legacy/",
            "the token was issued by localhost, not by test.pypi.org, but the repository URL "
            "points at test.pypi.org (https://test.pypi.org/legacy/): "
            "test.pypi.org would refuse it",
        ),
        (
            LOCAL,
            "https://pypi.example.com/legacy/",
            "the token was issued by localhost but the repository URL points at "
            "pypi.example.com: pass --allow-other-host to send it there",
        ),
        (
            PROD,
            "https://upload.pypi.org/legacy/",
            "refusing to upload a throwaway test project to production pypi.org "
            "(https://upload.pypi.org/legacy/); pass --allow-production if you really mean it",
        ),
    ],
)
def test_destination_refused(token: tokentool.Token, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_destination(token.domain, url)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("token", "url", "allow"),
    [
        (TEST, "https://test.pypi.org/legacy/", False),
        (PROD, "https://upload.pypi.org/legacy/", True),
        (LOCAL, "http://127.0.0.1:8080/legacy/", False),
        (LOCAL, "http://localhost:8080/legacy/", False),
        (LOCAL, "http://[::1]:8080/legacy/", False),
    ],
)
def test_destination_allowed(token: tokentool.Token, url: str, allow: bool) -> None:
    check_destination(token.domain, url, allow_production=allow)


def test_private_token_goes_elsewhere_only_when_allowed() -> None:
    check_destination(LOCAL.domain, "https://pypi.example.com/legacy/", allow_other_host=True)
    private = tokentool.load(mint_raw("pypi.example.com"))
    check_destination(private.domain, "https://PYPI.example.com./legacy/")
    with pytest.raises(ConfigError, match="pass --allow-other-host"):
        check_destination(private.domain, "https://evil.example.net/legacy/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://test.pypi.org/legacy/",
            "refusing to send a token in clear text to test.pypi.org: use "
            "https://test.pypi.org/legacy/",
        ),
        (
            "http://upload.pypi.org/legacy/",
            "refusing to send a token in clear text to pypi.org: use "
            "https://upload.pypi.org/legacy/",
        ),
        (
            "https://test.pypi.org/simple/",
            "https://test.pypi.org/simple/ is the simple index that pip reads; the upload URL "
            "ends in /legacy/ (e.g. https://test.pypi.org/legacy/)",
        ),
        (
            "http://127.0.0.1:8080/simple",
            "http://127.0.0.1:8080/simple/ is the simple index that pip reads; the upload URL "
            "ends in /legacy/ (e.g. http://127.0.0.1:8080/legacy/)",
        ),
    ],
)
def test_url_guards(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"TOKEN": RAW}, index_url=url)
    assert str(info.value) == message


def test_repository_url_is_read_and_wins_over_its_old_name(tmp_path: Path) -> None:
    env = write_env(tmp_path, TOKEN=RAW, INDEX_URL="http://old/", REPOSITORY_URL="http://new/")
    assert load_config(env, {}).index_url == "http://new/"
    assert load_config(env, {"REPOSITORY_URL": "http://env/"}).index_url == "http://env/"


def test_a_name_too_long_to_build_is_refused_in_one_sentence(tmp_path: Path) -> None:
    """Not ``OSError ([Errno 36] File name too long)`` from the build backend."""
    from tokentool.workflow import BuildError, build_sample, check_buildable_name

    longest = "a" * 208  # 208 + "-0.0.<16 digits>-py3-none-any.whl.metadata" = 255 bytes
    assert check_buildable_name(longest) == longest
    with pytest.raises(ConfigError) as long:
        check_buildable_name(longest + "a")
    assert str(long.value) == (
        "project name too long: 209 characters; the wheel built for it "
        "('aaaaaaaaaaaa…-0.0.1000000000000000-py3-none-any.whl', and the .metadata file an "
        "index keeps beside it) would pass the 255-byte limit of a file name: use at most "
        "208 characters"
    )
    config = load_config(None, {"TOKEN": RAW})
    with pytest.raises(ConfigError, match=r"^project name too long: 300 characters"):
        config.project_or_default("a" * 300)
    with pytest.raises(BuildError, match=r"use at most 225 characters$"):
        build_sample("a" * 300, tmp_path / "out", "1.0")
    assert not (tmp_path / "out").exists()
    built = build_sample("a" * 225, tmp_path / "fits", "1.0")  # the longest, built for real
    assert len((built.wheel.name + ".metadata").encode()) == 255


def test_the_name_is_checked_before_a_token_is_looked_for(tmp_path: Path, monkeypatch) -> None:
    from tokentool.workflow import settings

    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.delenv("TWINE_PASSWORD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pypirc
    with pytest.raises(tokentool.RestrictionError, match=r"^invalid project name: 'bad name!'"):
        settings(tmp_path, project="bad name!")
    with pytest.raises(ConfigError, match=r"^project name too long: 300 characters"):
        settings(tmp_path, project="a" * 300)
    with pytest.raises(ConfigError, match=r"^no token found"):
        settings(tmp_path, "http://127.0.0.1:9/legacy/", project="fine")


def test_the_source_line_is_escaped(tmp_path: Path) -> None:
    """A path may hold control characters: every face prints the source through one line."""
    folder = tmp_path / "a\x1b[31mb"
    folder.mkdir()
    config = load_config(write_env(folder, TOKEN=RAW), {})
    assert "\x1b" in config.source
    assert "\x1b" not in config.source_line
    assert config.source_line.startswith("token from: TOKEN in ")
