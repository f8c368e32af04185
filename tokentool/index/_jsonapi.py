"""Warehouse's JSON API, ``/pypi/<project>/json`` and ``/pypi/<project>/<version>/json``.

Rendered from the database alone, as warehouse's ``legacy/api/json.py`` does:
the release's metadata is recorded once, when its first file is uploaded
(``release_info``), and the files with their digests come from their rows. A
project or release that does not exist is a 404: the tasks ask "does this
project exist" this way.
"""

from __future__ import annotations

import codecs
import datetime
import json
from collections.abc import Iterator
from typing import Any

from packaging.metadata import Metadata
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from tokentool.index._db import ProjectRow, ServedFile, Tx

#: Metadata fields warehouse's ``info`` copies from the release as stored.
_PLAIN_FIELDS = (
    "summary",
    "description_content_type",
    "license",
    "license_expression",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "home_page",
    "download_url",
)


def _field(meta: Metadata, name: str) -> Any:
    try:
        return getattr(meta, name)
    except Exception:  # a field packaging refuses for this metadata version: absent
        return None


def release_info(meta: Metadata) -> str:
    """The release's part of ``info``, as warehouse's ``file_upload`` stores a Release."""
    info: dict[str, Any] = {name: _field(meta, name) for name in _PLAIN_FIELDS}
    keywords = _field(meta, "keywords")
    info["keywords"] = ", ".join(keywords) if keywords else None
    info["license_files"] = _field(meta, "license_files")
    info["classifiers"] = list(_field(meta, "classifiers") or [])
    requires_python = _field(meta, "requires_python")
    info["requires_python"] = str(requires_python) if requires_python else None
    platforms = _field(meta, "platforms")
    info["platform"] = platforms[0] if platforms else None  # warehouse keeps the first
    urls = _field(meta, "project_urls")
    info["project_urls"] = dict(urls) if urls else None
    requires = _field(meta, "requires_dist")
    info["requires_dist"] = [str(r) for r in requires] if requires else None
    extras = _field(meta, "provides_extra")
    info["provides_extra"] = [str(e) for e in extras] if extras else None
    dynamic = _field(meta, "dynamic")
    info["dynamic"] = [d.title() for d in dynamic] if dynamic else None
    return json.dumps(info)


def description_bytes(meta: Metadata) -> bytes:
    """The description as stored apart (``release_descriptions``), UTF-8."""
    return str(_field(meta, "description") or "").encode("utf-8", "surrogatepass")


#: Stands for the description in ``json_data``'s answer; ``json_body`` streams it in.
DESCRIPTION = "\x00tokentool:description\x00"
_CHUNK = 1024 * 1024


def json_body(tx: Tx, data: dict[str, Any], project_id: str) -> tuple[int, Iterator[bytes]]:
    """The answer's length and its bytes, the description streamed from storage, so
    a 50 MiB description costs a megabyte of memory per reader, not four copies."""
    canonical = data["info"].pop("_canonical")
    text = json.dumps(data) + "\n"
    # The mark holds NULs, which no stored field can (sanitize escapes them).
    head, mark, tail = text.partition(json.dumps(DESCRIPTION))
    stored = tx.description(project_id, canonical) if mark else None
    if stored is None:  # a release recorded before descriptions were stored apart
        return _plain(head + (json.dumps("") if mark else "") + tail)

    def escaped() -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        for chunk in tx.description_chunks(stored, _CHUNK):
            yield json.dumps(decoder.decode(chunk))[1:-1].encode("ascii")
        yield json.dumps(decoder.decode(b"", final=True))[1:-1].encode("ascii")

    head_bytes, tail_bytes = head.encode() + b'"', b'"' + tail.encode()
    length = len(head_bytes) + len(tail_bytes) + sum(len(piece) for piece in escaped())

    def body() -> Iterator[bytes]:
        yield head_bytes
        yield from escaped()
        yield tail_bytes

    return length, body()


def _plain(text: str) -> tuple[int, Iterator[bytes]]:
    data = text.encode("utf-8")
    return len(data), iter([data])


def _order(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:  # not from this stand-in's uploads; sorts first, never crashes
        return (0, version)


def upload_time(stamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).replace(tzinfo=None)


def file_url(base: str, f: ServedFile) -> str:
    from urllib.parse import quote

    b2 = f.blake2_256_digest
    return f"{base}/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{quote(f.filename, safe='')}"


def json_data(tx: Tx, project: ProjectRow, version: str | None, base: str) -> dict[str, Any] | None:
    """Warehouse's ``_json_data``; None when the project has no such release (404).

    ``version`` None is the latest release, chosen as warehouse's
    ``latest_release_factory`` does: not yanked, final releases before
    pre-releases, then the highest version.
    """
    releases = tx.releases(project.id)
    if not releases:
        return None
    yanks = tx.yanks(project.id)
    if version is None:
        chosen = max(releases, key=lambda r: (r[1] not in yanks, not r[3], _order(r[0])))
    else:
        wanted = canonicalize_version(version)
        matches = [r for r in releases if r[1] == wanted]
        if len(matches) > 1:
            matches = [r for r in matches if r[0] == version]
        if len(matches) != 1:
            return None
        chosen = matches[0]
    only = None if version is None else chosen[1]
    files = sorted(tx.served_files(project.id, only), key=lambda f: f.filename)
    by_version: dict[str, list[dict[str, Any]]] = {}
    for release in sorted(releases, key=lambda r: _order(r[0]), reverse=True):
        if version is None or release[1] == chosen[1]:
            by_version[release[0]] = []
    for f in files:  # f.version is its release's version as first recorded
        when = upload_time(f.uploaded)
        by_version.setdefault(f.version, []).append(
            {
                "filename": f.filename,
                "packagetype": f.packagetype,
                "python_version": f.python_version,
                "has_sig": False,
                "comment_text": None,
                "md5_digest": f.md5_digest,
                "digests": {
                    "md5": f.md5_digest,
                    "sha256": f.sha256_digest,
                    "blake2b_256": f.blake2_256_digest,
                },
                "core-metadata": ({"sha256": f.metadata_sha256} if f.metadata_sha256 else False),
                "size": f.size,
                "downloads": -1,
                "upload_time": when.strftime("%Y-%m-%dT%H:%M:%S"),
                "upload_time_iso_8601": when.isoformat() + "Z",
                "url": file_url(base, f),
                "requires_python": f.requires_python or None,
                "yanked": f.yanked,
                "yanked_reason": f.yanked_reason or None,
            }
        )
    stored = json.loads(chosen[4])
    info: dict[str, Any] = {
        "name": project.name,
        "version": chosen[0],
        "summary": stored.get("summary"),
        "description_content_type": stored.get("description_content_type"),
        # Stored apart and streamed (json_body); older rows kept it in ``info``.
        "description": stored.get("description", DESCRIPTION),
        "_canonical": chosen[1],
        "keywords": stored.get("keywords"),
        "license": stored.get("license"),
        "license_expression": stored.get("license_expression"),
        "license_files": stored.get("license_files"),
        "classifiers": stored.get("classifiers", []),
        "author": stored.get("author"),
        "author_email": stored.get("author_email"),
        "maintainer": stored.get("maintainer"),
        "maintainer_email": stored.get("maintainer_email"),
        "requires_python": chosen[2],
        "platform": stored.get("platform"),
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
        "package_url": f"{base}/project/{project.name}/",
        "project_url": f"{base}/project/{project.name}/",
        "project_urls": stored.get("project_urls"),
        "release_url": f"{base}/project/{project.name}/{chosen[0]}/",
        "requires_dist": stored.get("requires_dist"),
        "provides_extra": stored.get("provides_extra"),
        "docs_url": None,
        "bugtrack_url": None,
        "home_page": stored.get("home_page"),
        "download_url": stored.get("download_url"),
        "yanked": chosen[1] in yanks,
        "yanked_reason": yanks.get(chosen[1]) or None,
        "dynamic": stored.get("dynamic"),
    }
    roles = sorted(
        ({"role": role, "user": user} for role, user in tx.roles(project.id)),
        key=lambda r: (r["role"] != "Owner", r["user"]),
    )
    data: dict[str, Any] = {
        "info": info,
        "urls": by_version.get(chosen[0], []),
        "vulnerabilities": [],
        "last_serial": tx.last_serial(project.id),
        "ownership": {"roles": roles, "organization": None},
    }
    if version is None:
        data["releases"] = by_version
    return data
