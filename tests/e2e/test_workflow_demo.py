"""The demo in-process: every child process it starts gets no token, and failures fail it."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
from helpers import TOKEN_LIKE, assert_no_token, mint_raw

from tokentool.workflow import _demo


@pytest.mark.slow
def test_demo_children_never_see_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records argv and environment of every process the demo starts (stand-in, pip, python)."""
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.Popen

    class Recording(real):  # type: ignore[valid-type,misc]
        def __init__(self, args, *rest, **kwargs):
            argv = [args] if isinstance(args, str) else [str(a) for a in args]
            env = kwargs.get("env")
            seen.append((argv, dict(os.environ if env is None else env)))
            super().__init__(args, *rest, **kwargs)

    exported = mint_raw()
    # A user who exported their token: no child may inherit it.
    monkeypatch.setenv("TOKEN", exported)
    monkeypatch.setenv("TWINE_PASSWORD", exported)
    monkeypatch.setenv("PYPI_USERNAME", "someone")
    monkeypatch.setattr(subprocess, "Popen", Recording)
    out = io.StringIO()
    assert _demo.run(out), out.getvalue()
    commands = [" ".join(argv) for argv, _env in seen]
    assert any("tokentool.index serve " in c for c in commands), commands
    assert any(" -m pip --python " in c for c in commands), commands
    assert any("import importlib.metadata as m, tokentool_sample" in c for c in commands)
    for argv, env in seen:
        assert "TOKEN" not in env and "TWINE_PASSWORD" not in env, argv
        assert not any(TOKEN_LIKE.search(a) for a in argv), argv
        assert not any(TOKEN_LIKE.search(v) for v in env.values())
    assert_no_token(out.getvalue())


def test_a_failed_step_fails_the_demo() -> None:
    out = io.StringIO()
    steps = _demo._Steps(out)
    assert steps.run("fine", lambda: (True, "ok", 1)) == 1
    assert steps.run("broken", lambda: (False, "went wrong", 2)) is None
    assert not steps.summary()
    text = out.getvalue()
    assert "[FAIL] broken\n       went wrong\n" in text
    assert "  2. broken  FAIL" in text
    assert "Demo FAILED in" in text
    assert text.rstrip().endswith("(1/2).")
