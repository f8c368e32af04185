"""Does a zip read the same front to back as through its central directory?

The facts of ``warehouse/utils/zipfiles.py`` ``validate_zipfile`` (APPNOTE
records walked in file order; every local file must match its central
directory entry; no data descriptors, directory comments, duplicate names,
unknown records or trailing bytes), written as one pass over the records.
Its reasons become "ZIP archive not accepted: <reason>." in the answer.
Work is bounded: one seek or one small read per record, and the record count
is capped before this runs (``archives._zip_entries``).
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import BinaryIO

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_ZIP64_EXTRA = 0x0001
_UNICODE_PATH_EXTRA = 0x7075
_UNPRINTABLE = frozenset([*range(0x20), 0x7F])


class _Bad(Exception):
    pass


def _read(fp: BinaryIO, size: int) -> bytes:
    data = fp.read(size)
    if len(data) != size:
        raise _Bad("Malformed zip file")
    return data


def _check_name(name: bytes) -> None:
    if any(byte in _UNPRINTABLE for byte in name):
        raise _Bad("Invalid character in filename")


def _local_sizes(compress: int, csize: int, usize: int, extra: bytes) -> tuple[int, int]:
    """Sizes of a local header, ZIP64 extra applied; checks its other extras."""
    seen: set[int] = set()
    while extra:
        if len(extra) < 4:
            raise _Bad("Malformed zip file")
        kind, size = struct.unpack("<HH", extra[:4])
        if size + 4 > len(extra):
            raise _Bad("Malformed zip file")
        if kind in seen and kind in (_ZIP64_EXTRA, _UNICODE_PATH_EXTRA):
            raise _Bad("Invalid duplicate extra in local file")
        seen.add(kind)
        body = extra[4 : 4 + size]
        if kind == _ZIP64_EXTRA:
            if size not in (0, 8, 16, 24, 28):
                raise _Bad("Malformed zip file")
            if size == 0 and 0xFFFFFFFF in (csize, usize):
                raise _Bad("Malformed zip file")
            if size == 8:  # only the uncompressed size: must be stored
                if compress != zipfile.ZIP_STORED:
                    raise _Bad("Malformed zip file")
                (csize,) = struct.unpack("<Q", body[:8])
                usize = csize if usize == 0xFFFFFFFF else usize
            elif size >= 16:
                if usize == 0xFFFFFFFF:
                    (usize,) = struct.unpack("<Q", body[:8])
                (csize,) = struct.unpack("<Q", body[8:16])
        elif kind == _UNICODE_PATH_EXTRA:
            unicode_name = body[5:]
            _check_name(unicode_name)
            try:
                unicode_name.decode("utf-8")
            except UnicodeError:
                raise _Bad("Filename not valid UTF-8") from None
        extra = extra[4 + size :]
    return csize, usize


def problem(archive: zipfile.ZipFile) -> str | None:
    """None when the zip's records agree; else warehouse's reason."""
    expected = {i.orig_filename: (i.compress_size, i.file_size) for i in archive.filelist}
    fp = archive.fp
    assert fp is not None
    position = fp.tell()
    try:
        fp.seek(0)
        return _walk(fp, expected)
    except _Bad as bad:
        return str(bad)
    finally:
        fp.seek(position)


def _walk(fp: BinaryIO, expected: dict[str, tuple[int, int]]) -> str | None:
    local: set[bytes] = set()
    central: set[bytes] = set()
    cd_offset: int | None = None
    cd_records = cd_size = 0
    eocd64_at: int | None = None  # where an EOCD64 record was
    locator_seen = False
    from_eocd64: tuple[int, int, int] | None = None
    while True:
        signature = _read(fp, 4)
        if signature == _EOCD and eocd64_at is not None and not locator_seen:
            return "Malformed zip file"
        if signature == _LOCAL:
            flags, compress, csize, usize, name_len, extra_len = struct.unpack(
                "<2xHH8xLLHH", _read(fp, 26)
            )
            name = _read(fp, name_len)
            extra = _read(fp, extra_len)
            _check_name(name)
            csize, usize = _local_sizes(compress, csize, usize, extra)
            if flags & 0x08:
                raise _Bad("ZIP contains a data descriptor")
            try:
                sizes = expected[name.decode("utf-8")]
            except UnicodeError:
                raise _Bad("Filename not unicode") from None
            except KeyError:
                raise _Bad("Filename not in central directory") from None
            if sizes[0] != csize:
                raise _Bad("Mis-matched data size")
            if sizes[1] != usize:
                raise _Bad("Mis-matched file size")
            if name in local:
                raise _Bad("Duplicate filename in local headers")
            local.add(name)
            fp.seek(csize, os.SEEK_CUR)
        elif signature == _CENTRAL:
            if cd_offset is None:
                cd_offset = fp.tell() - 4
            cd_records += 1
            name_len, extra_len, comment_len = struct.unpack("<24xHHH12x", _read(fp, 42))
            if comment_len:
                raise _Bad("Comment in central directory")
            name = _read(fp, name_len)
            extra = _read(fp, extra_len)
            _check_name(name)
            cd_size += 46 + len(name) + len(extra)
            if name in central:
                raise _Bad("Duplicate filename in central directory")
            if name not in local:
                raise _Bad("Missing filename in local headers")
            central.add(name)
        elif signature == _EOCD:
            if cd_offset is None:
                cd_offset = fp.tell() - 4
            on_disk, records, size, offset, comment_len = struct.unpack("<4xHHLLH", _read(fp, 18))
            if on_disk != records:
                raise _Bad("Malformed zip file")
            fp.seek(comment_len, os.SEEK_CUR)
            if from_eocd64 is not None and locator_seen:
                records, size, offset = from_eocd64
            if records != cd_records:
                raise _Bad("Mismatched central directory records")
            if offset != cd_offset:
                raise _Bad("Mismatched central directory offset")
            if size != cd_size:
                raise _Bad("Mismatched central directory size")
            break
        elif signature == _EOCD64:
            eocd64_at = fp.tell() - 4
            record_size, on_disk, records, size, offset = struct.unpack("<Q12xQQQQ", _read(fp, 52))
            if on_disk != records:
                raise _Bad("Malformed zip file")
            if record_size != 44:
                raise _Bad("ZIP64 extensible data not allowed")
            from_eocd64 = (records, size, offset)
        elif signature == _EOCD64_LOCATOR:
            _read(fp, 16)
            locator_seen = True
        else:
            return "Unknown record signature"
    if central != local:
        return "Mis-matched local headers and central directory"
    end = fp.tell()
    if end != fp.seek(0, os.SEEK_END):
        return "Trailing data"
    return None
