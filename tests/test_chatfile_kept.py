"""A scanned file's lines kept in memory: handed out without a second read, and still checked
against the file at the end, so a rewrite in place that keeps size and time is caught."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.sillytavern.chatfile import BOM, ChatFile, ChatFileChanged, line_hash

LINES = [b'{"user_name":"u"}', *(b'{"mes":"line %02d"}' % i for i in range(1, 41))]  # i: line i


def write(path: Path, lines: list[bytes], *, bom: bool = False, newline: bool = True) -> None:
    path.write_bytes((BOM if bom else b"") + b"\n".join(lines) + (b"\n" if newline else b""))


def rewrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Same size, same modification time: only the bytes differ."""
    assert len(old) == len(new)
    info = path.stat()
    data = path.read_bytes()
    assert data.count(old) == 1
    with path.open("r+b") as fh:
        fh.seek(data.index(old))
        fh.write(new)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.parametrize(("bom", "newline"), [(False, True), (True, False)])
def test_kept_lines_are_the_scanned_lines(tmp_path: Path, bom: bool, newline: bool) -> None:
    path = tmp_path / "chat.jsonl"
    write(path, LINES, bom=bom, newline=newline)
    with ChatFile(path) as file:
        scan = file.scan()
        assert scan.raw is not None
        assert b"".join(scan.raw) == path.read_bytes()
        assert scan.hashes == [line_hash(line) for line in LINES]
        assert list(file.lines(scan)) == list(enumerate(LINES))
        wanted = [i % 3 == 0 for i in range(len(LINES))]
        assert [i for i, _ in file.lines(scan, wanted)] == [i for i, w in enumerate(wanted) if w]
        assert file.line(scan, 5) == LINES[5]
        file.check_unchanged(scan)  # nothing changed: no error


def test_a_bigger_file_is_streamed_and_checked_as_before(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    write(path, LINES)
    with ChatFile(path) as file:
        scan = file.scan(keep_bytes=100)
        assert scan.raw is None
        assert list(file.lines(scan)) == list(enumerate(LINES))
        rewrite_in_place(path, b"line 08", b"LINE 08")
        with pytest.raises(ChatFileChanged):
            file.line(scan, 8)


@pytest.mark.parametrize("handed_out", ["all", "few"])
def test_a_rewrite_keeping_size_and_time_is_caught(tmp_path: Path, handed_out: str) -> None:
    """Whether most kept lines were handed out (one read of the whole file) or a few (each one
    read at its offset), a changed byte in one of them fails the final check."""
    path = tmp_path / "chat.jsonl"
    write(path, LINES)
    with ChatFile(path) as file:
        scan = file.scan()
        if handed_out == "all":
            assert len(list(file.lines(scan))) == len(LINES)
        else:
            assert file.line(scan, 8) == LINES[8]
        rewrite_in_place(path, b"line 07", b"LINE 07")  # a line the few did not read
        if handed_out == "few":
            file.check_unchanged(scan)  # what was handed out is still what the file holds
        else:
            with pytest.raises(ChatFileChanged):
                file.check_unchanged(scan)
        rewrite_in_place(path, b"line 08", b"LINE 08")
        with pytest.raises(ChatFileChanged):
            file.check_unchanged(scan)


def test_a_newline_turned_into_another_byte_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    write(path, LINES)
    with ChatFile(path) as file:
        scan = file.scan()
        assert file.line(scan, 3) == LINES[3]
        rewrite_in_place(path, b'line 03"}\n', b'line 03"} ')
        with pytest.raises(ChatFileChanged):
            file.check_unchanged(scan)
