"""tokentool scan vs detect-secrets vs grep, on one corpus, in one run.

The corpus is a copy of the installed site-packages (replicated until it holds
at least 100 MB) under benchmarks/.data/scan-corpus/. The clean copy is scanned
first (no finding allowed: false positives), then tokens of every issuer
(pypi.org, test.pypi.org, a private index, localhost, a one-character
identifier) in every shape (.env, quoted, JSON, YAML, TOML, URL, URL-encoded
standard base64, standard base64 with and without padding, base64url with
padding) are inserted at random lines of random text files, and the three
scanners run over the same files:

- ``grep -rlF pypi-``: the floor under any scanner (it only finds the literal);
- ``tokentool scan``: one process;
- ``detect-secrets scan --all-files``: all its default plugins, as people run it
  (it uses every core).

Throughput is corpus bytes (every file, binaries included) per second of wall
time, page cache warm (best of several runs for the fast tools, one run of
detect-secrets). Exit 1 if a target is missed:
tokentool >= 10x detect-secrets, >= 0.3x grep, recall 100%, no false positive.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_scan.py``.
Tokens are minted here with random keys and never printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.parse
import uuid
from pathlib import Path

import tokentool

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
BIN = Path(sys.executable).parent
MIN_BYTES = 100 * 1000 * 1000

ISSUERS = {
    "pypi.org": ("pypi.org", None),
    "test.pypi.org": ("test.pypi.org", None),
    "private index": ("pypi.example.com", None),
    "localhost": ("localhost", None),
    "short identifier": ("localhost", "7"),
}


def std_b64(token: str) -> str:
    body = token.removeprefix("pypi-")
    return base64.b64encode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))).decode()


SHAPES = {
    "dotenv": lambda t: f"TWINE_PASSWORD={t}",
    "quoted": lambda t: f'PASSWORD = "{t}"',
    "json": lambda t: json.dumps({"username": "__token__", "password": t}),
    "yaml": lambda t: f"  password: '{t}'",
    "toml": lambda t: f'password = "{t}"',
    "url": lambda t: f"index-url = https://__token__:{t}@pypi.example.com/simple/",
    "url-encoded": lambda t: (
        "https://__token__:" + urllib.parse.quote("pypi-" + std_b64(t), safe="") + "@host/legacy/"
    ),
    "std-padded": lambda t: f"token: pypi-{std_b64(t)}",
    "std-unpadded": lambda t: f"token: pypi-{std_b64(t).rstrip('=')}",
    "urlsafe-padded": lambda t: f"token = {t + '=' * (-(len(t) - 5) % 4)}",
}


def mint(issuer: str) -> str:
    domain, identifier = ISSUERS[issuer]
    return tokentool.mint(
        domain=domain,
        identifier=identifier or str(uuid.uuid4()),
        key=secrets.token_bytes(32),
        user_id=str(uuid.uuid4()),
    )


def tree_bytes(root: Path) -> tuple[int, int]:
    total = files = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
                files += 1
    return total, files


def build_corpus(corpus: Path) -> None:
    source = Path(sysconfig.get_paths()["purelib"])
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    copy = 0
    while tree_bytes(corpus)[0] < MIN_BYTES:
        copy += 1
        shutil.copytree(source, corpus / f"copy-{copy}", symlinks=True)


def text_files(corpus: Path) -> list[Path]:
    found = []
    for folder, _dirs, names in os.walk(corpus):
        for name in names:
            if name.endswith((".py", ".txt", ".md", ".rst", ".json", ".toml", ".cfg")) or (
                name == "METADATA"
            ):
                path = Path(folder, name)
                data = path.read_bytes()
                if data and b"\0" not in data[:8000] and data.endswith(b"\n"):
                    found.append(path)
    return sorted(found)


def plant(corpus: Path, rng: random.Random) -> tuple[dict[tuple[str, int], str], list[str]]:
    """Insert one line per (issuer, shape) into a random text file; return where."""
    candidates = text_files(corpus)
    planted: dict[tuple[str, int], str] = {}
    tokens = []
    chosen = rng.sample(candidates, len(ISSUERS) * len(SHAPES))
    for (issuer, shape), path in zip(
        [(i, s) for i in ISSUERS for s in SHAPES], chosen, strict=True
    ):
        token = mint(issuer)
        tokens.append(token)
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
        at = rng.randrange(len(lines))
        lines.insert(at, SHAPES[shape](token))
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
        planted[(str(path.relative_to(corpus)), at + 1)] = f"{issuer}/{shape}"
    # And the classic: a .env file next to the code.
    token = mint("test.pypi.org")
    tokens.append(token)
    (corpus / "copy-1" / ".env").write_text(f"# local\nTOKEN={token}\n")
    planted[(os.path.join("copy-1", ".env"), 2)] = "test.pypi.org/.env file"
    return planted, tokens


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


LOCATION = re.compile(r"^(.*?):(\d+):(\d+): PyPI token \((macaroon|token-shaped)")


def tokentool_findings(stdout: str) -> dict[tuple[str, int], str]:
    found = {}
    for line in stdout.splitlines():
        match = LOCATION.match(line)
        assert match, "unexpected output line from tokentool scan"
        found[(os.path.normpath(match.group(1)), int(match.group(2)))] = match.group(4)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the fast tools (best kept)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--skip-detect-secrets", action="store_true", help="(for a quick look) no baseline"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the corpus (it holds the planted tokens)"
    )
    args = parser.parse_args()
    corpus = DATA / "scan-corpus"
    tokentool_cmd = [str(BIN / "tokentool"), "scan", "--allowlist", os.devnull, "."]

    print(f"building corpus in {corpus} ...", flush=True)
    build_corpus(corpus)
    size, files = tree_bytes(corpus)
    print(
        f"corpus: {files} files, {size / 1e6:.1f} MB (copies of {sysconfig.get_paths()['purelib']})"
    )

    # Clean corpus: nothing may be reported (every finding here is a false positive).
    _, clean = timed(tokentool_cmd, corpus, 1)
    clean_findings = tokentool_findings(clean.stdout)
    print(f"clean corpus: tokentool findings = {len(clean_findings)} (exit {clean.returncode})")

    planted, tokens = plant(corpus, random.Random(args.seed))
    size, files = tree_bytes(corpus)
    print(f"planted {len(planted)} tokens ({len(ISSUERS)} issuers x {len(SHAPES)} shapes + .env)")

    grep_s, _ = timed(["grep", "-rlF", "pypi-", "."], corpus, args.runs)
    tok_s, tok = timed(tokentool_cmd, corpus, args.runs)
    found = tokentool_findings(tok.stdout)
    summary = re.search(r"scanned (\d+) file\(s\), ([\d.]+) MiB \((\d+) binary", tok.stderr)
    assert summary, tok.stderr
    missed = sorted(set(planted) - set(found))
    extra = sorted(set(found) - set(planted))
    not_decoded = [k for k in planted if found.get(k) == "token-shaped"]
    leaked = [t for t in tokens if t[20:60] in tok.stdout + tok.stderr]

    # For reference: reading binaries in full too (same findings: none planted there).
    binary_s, _ = timed(
        [*tokentool_cmd[:2], "--include-binary", *tokentool_cmd[2:]], corpus, args.runs
    )
    rows = [
        ("grep -rlF pypi-", grep_s),
        ("tokentool scan", tok_s),
        ("  (--include-binary)", binary_s),
    ]
    ds_found_pypi: set[tuple[str, int]] = set()
    ds_found_any: set[tuple[str, int]] = set()
    ds_other = 0
    ds_s = None
    if not args.skip_detect_secrets:
        ds_s, ds = timed([str(BIN / "detect-secrets"), "scan", "--all-files", "."], corpus, 1)
        results = json.loads(ds.stdout)["results"]
        for name, secrets_found in results.items():
            for item in secrets_found:
                key = (os.path.normpath(name), item["line_number"])
                ds_found_any.add(key)
                if item["type"] == "PyPI Token":
                    ds_found_pypi.add(key)
                if key not in planted:
                    ds_other += 1
        rows.append(("detect-secrets scan", ds_s))

    print()
    print(f"{'scanner':<22}{'seconds':>9}{'MB/s':>10}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds:>9.2f}{size / 1e6 / seconds:>10.1f}")
    print(
        f"(tokentool read {summary.group(2)} MiB of text in full; it stops reading the "
        f"{summary.group(3)} binary files after their first block, as the issue asks)"
    )
    print()
    print(
        f"tokentool: found {len(planted) - len(missed)}/{len(planted)} planted "
        f"(recall {100 * (len(planted) - len(missed)) / len(planted):.0f}%), "
        f"{len(not_decoded)} only token-shaped, {len(extra)} other findings, "
        f"{len(leaked)} tokens printed"
    )
    if ds_s is not None:
        pypi_hits = len(ds_found_pypi & set(planted))
        any_hits = len(ds_found_any & set(planted))
        print(
            f"detect-secrets: {pypi_hits}/{len(planted)} planted found as 'PyPI Token', "
            f"{any_hits}/{len(planted)} flagged by any plugin; "
            f"{ds_other} findings elsewhere (all plugins)"
        )
        by_kind: dict[str, int] = {}
        for key, label in planted.items():
            if key not in ds_found_pypi:
                by_kind[label.split("/")[0]] = by_kind.get(label.split("/")[0], 0) + 1
        print(f"  missed as PyPI Token, by issuer: {by_kind}")

    checks = [
        ("recall 100%", not missed),
        ("every planted token decoded as a macaroon", not not_decoded),
        ("no false positive on the clean corpus", not clean_findings),
        ("no finding besides the planted ones", not extra),
        ("no token printed", not leaked),
        (
            "exit status 1 when tokens found, 0 when clean",
            (tok.returncode, clean.returncode) == (1, 0),
        ),
        (f">= 0.3x grep throughput ({grep_s / tok_s:.2f}x)", grep_s / tok_s >= 0.3),
    ]
    if ds_s is not None:
        checks.append(
            (f">= 10x detect-secrets throughput ({ds_s / tok_s:.1f}x)", ds_s / tok_s >= 10)
        )
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    if missed:
        print("missed:", [planted[k] for k in missed])
    if not args.keep:
        # Throwaway tokens, but a tree full of token-shaped text is noise for
        # anyone who later runs `tokentool scan .` at the project root.
        shutil.rmtree(corpus)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
