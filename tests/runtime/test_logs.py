"""Service logs: Docker's json-file lines, line splitting, tail, follow and rotation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from vigil.targets import logs as _logs
from vigil.targets.logs import (
    MAX_LINE_BYTES,
    STDERR,
    STDOUT,
    LogEntry,
    ServiceLog,
    decode_entry,
    encode_entry,
)

T0 = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z
T0_TEXT = "2026-01-01T00:00:00.123456789Z"


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def logs(log: ServiceLog) -> list[tuple[str, str]]:
    return [(e.stream, e.log) for e in log.tail()]


def test_entries_are_docker_json_file_lines(tmp_path: Path) -> None:
    """Each complete line becomes moby's exact json-file object, in arrival order."""
    log = ServiceLog(tmp_path / "web.log")
    log.append(STDOUT, b"hello\n", T0)
    log.append(STDERR, b"oops\n", T0 + 1_000)
    assert lines(log.path) == [
        b'{"log":"hello\\n","stream":"stdout","time":"' + T0_TEXT.encode() + b'"}\n',
        b'{"log":"oops\\n","stream":"stderr","time":"2026-01-01T00:00:00.123457789Z"}\n',
    ]


def test_time_is_rfc3339nano_utc_with_trailing_zeros_trimmed(tmp_path: Path) -> None:
    """Go's RFC3339Nano: the fraction loses trailing zeros, and disappears when zero."""
    log = ServiceLog(tmp_path / "web.log")
    log.append(STDOUT, b"a\n", 1_767_225_600_000_000_000)
    log.append(STDOUT, b"b\n", 1_767_225_600_500_000_000)
    assert [e.time for e in log.tail()] == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z"]


@pytest.mark.parametrize(
    ("raw", "encoded", "text"),
    [
        (b'say "hi" \\ bye\n', '"say \\"hi\\" \\\\ bye\\n"', 'say "hi" \\ bye\n'),
        (b"<a href='x'>&</a>\n", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\\n\"", None),
        (b"tab\there\r\n", '"tab\\u0009here\\r\\n"', "tab\there\r\n"),
        (b"\x00\x1f\x7f\n", '"\\u0000\\u001f\x7f\\n"', "\x00\x1f\x7f\n"),
        (b"caf\xc3\xa9 \xe2\x82\n", '"café \\ufffd\\ufffd\\n"', "café \ufffd\ufffd\n"),
        (b"\xff\xfe\n", '"\\ufffd\\ufffd\\n"', "\ufffd\ufffd\n"),
        ("a\u2028b\u2029\n".encode(), '"a\\u2028b\\u2029\\n"', "a\u2028b\u2029\n"),
        ("\ufffd ok\n".encode(), '"\ufffd ok\\n"', "\ufffd ok\n"),
    ],
)
def test_log_text_is_escaped_like_mobys_ffjson_writer(
    raw: bytes, encoded: str, text: str | None
) -> None:
    """<>& and controls as \\u00XX (but \\n, \\r), bad bytes as \\ufffd one each, U+2028/9."""
    line, entry = encode_entry(raw, STDOUT, T0_TEXT)
    assert line.decode() == f'{{"log":{encoded},"stream":"stdout","time":"{T0_TEXT}"}}\n'
    assert json.loads(line)["log"] == entry.log
    if text is not None:
        assert entry.log == text


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    """Output without a newline is held until the newline comes, per stream."""
    log = ServiceLog(tmp_path / "web.log")
    log.append(STDOUT, b"hel", T0)
    log.append(STDERR, b"err", T0)
    assert logs(log) == []
    log.append(STDOUT, b"lo\nwor", T0)
    assert logs(log) == [(STDOUT, "hello\n")]
    log.append(STDERR, b"or\n", T0)
    assert logs(log) == [(STDOUT, "hello\n"), (STDERR, "error\n")]


def test_flush_logs_the_rest_as_a_complete_line(tmp_path: Path) -> None:
    """When a stream closes, its unfinished line is logged with a newline (as moby's copier)."""
    log = ServiceLog(tmp_path / "web.log")
    log.append(STDOUT, b"a\nlast", T0)
    log.append(STDERR, b"e", T0)
    log.flush(T0, STDOUT)
    assert logs(log) == [(STDOUT, "a\n"), (STDOUT, "last\n")]
    log.flush(T0)
    assert logs(log)[-1] == (STDERR, "e\n")
    log.flush(T0)  # nothing left: nothing logged
    assert len(logs(log)) == 3


def test_multibyte_characters_split_across_reads_are_joined(tmp_path: Path) -> None:
    """A UTF-8 character cut between two reads is logged whole."""
    log = ServiceLog(tmp_path / "web.log")
    data = "é€\n".encode()
    for i in range(len(data)):
        log.append(STDOUT, data[i : i + 1], T0)
    assert logs(log) == [(STDOUT, "é€\n")]


@pytest.mark.parametrize(
    ("length", "pieces"),
    [
        (MAX_LINE_BYTES - 1, [MAX_LINE_BYTES - 1]),
        (MAX_LINE_BYTES, [MAX_LINE_BYTES, 0]),
        (40_000, [16_384, 16_384, 7_232]),
    ],
)
def test_long_lines_are_split_at_16_kib(tmp_path: Path, length: int, pieces: list[int]) -> None:
    """moby logs 16 KiB of a longer line as a partial entry (no newline); the last piece ends it."""
    log = ServiceLog(tmp_path / "web.log")
    log.append(STDOUT, b"x" * length + b"\n", T0)
    entries = log.tail()
    assert [len(e.log.rstrip("\n")) for e in entries] == pieces
    assert [e.partial for e in entries] == [True] * (len(pieces) - 1) + [False]


def test_long_output_without_newline_is_split_while_it_arrives(tmp_path: Path) -> None:
    """16 KiB pieces go out as soon as they are full, before any newline."""
    log = ServiceLog(tmp_path / "web.log")
    for _ in range(5):
        log.append(STDOUT, b"y" * 8192, T0)
    assert [len(e.log) for e in log.tail()] == [MAX_LINE_BYTES, MAX_LINE_BYTES]


def test_tail_returns_the_last_n_entries_oldest_first(tmp_path: Path) -> None:
    """tail(n) for n = 0, some, more than there are, and None (all)."""
    log = ServiceLog(tmp_path / "web.log")
    for i in range(10):
        log.append(STDOUT, f"line {i}\n".encode(), T0)
    assert log.tail(0) == []
    assert [e.log for e in log.tail(3)] == ["line 7\n", "line 8\n", "line 9\n"]
    assert len(log.tail(100)) == 10
    assert len(log.tail()) == 10
    assert len(log.tail(-1)) == 10


def test_tail_reads_big_files_backwards(tmp_path: Path) -> None:
    """A file far larger than one read block still yields exactly the last entries."""
    log = ServiceLog(tmp_path / "web.log", max_size=0)
    for i in range(20_000):
        log.append(STDOUT, f"{i:06d} {'z' * 40}\n".encode(), T0)
    assert log.path.stat().st_size > 1_000_000
    assert [e.log[:6] for e in log.tail(4)] == ["019996", "019997", "019998", "019999"]
    assert log.tail(20_000)[0].log.startswith("000000")


def test_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    """A service that never wrote anything has no entries."""
    assert ServiceLog(tmp_path / "none.log").tail(5) == []


def test_a_damaged_line_is_skipped(tmp_path: Path) -> None:
    """A torn last write (crash mid-line) does not hide the other entries."""
    path = tmp_path / "web.log"
    log = ServiceLog(path)
    log.append(STDOUT, b"good\n", T0)
    with path.open("ab") as handle:
        handle.write(b'{"log":"torn')
    assert [e.log for e in ServiceLog(path).tail()] == ["good\n"]
    assert decode_entry(b"[1, 2]") is None


def test_rotation_keeps_one_old_file(tmp_path: Path) -> None:
    """Past max_size the file moves to .1 (replacing the older one); tail spans both."""
    log = ServiceLog(tmp_path / "web.log", max_size=200)
    for i in range(12):
        log.append(STDOUT, f"entry {i:02d}\n".encode(), T0)
    rotated = tmp_path / "web.log.1"
    assert rotated.exists()
    assert not (tmp_path / "web.log.2").exists()
    assert rotated.stat().st_size >= 200
    texts = [e.log for e in log.tail()]
    assert texts[-1] == "entry 11\n"
    assert texts == [f"entry {i:02d}\n" for i in range(12 - len(texts), 12)]
    assert [e.log for e in log.tail(len(texts) - 1)] == texts[1:]


def test_rotation_with_more_files(tmp_path: Path) -> None:
    """max_files=3 keeps .1 and .2, newest entries in the current file."""
    log = ServiceLog(tmp_path / "web.log", max_size=100, max_files=3)
    for i in range(30):
        log.append(STDOUT, f"entry {i:02d}\n".encode(), T0)
    assert (tmp_path / "web.log.2").exists()
    assert not (tmp_path / "web.log.3").exists()
    texts = [e.log for e in log.tail()]
    assert texts == [f"entry {i:02d}\n" for i in range(30 - len(texts), 30)]


def test_follow_gets_new_entries_and_ends_on_close(tmp_path: Path) -> None:
    """A follower sees what is appended after it started, then stops when the log closes."""

    async def scenario() -> list[LogEntry]:
        log = ServiceLog(tmp_path / "web.log")
        log.append(STDOUT, b"before\n", T0)
        follower = log.follow()
        log.append(STDOUT, b"one\n", T0)
        log.append(STDERR, b"two\nthr", T0)
        got = [await anext(follower), await anext(follower)]
        waiting = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0)
        assert not waiting.done()
        log.append(STDERR, b"ee\n", T0)
        got.append(await asyncio.wait_for(waiting, 5))
        log.close()
        got.extend([entry async for entry in follower])
        return got

    got = asyncio.run(scenario())
    assert [(e.stream, e.log) for e in got] == [
        (STDOUT, "one\n"),
        (STDERR, "two\n"),
        (STDERR, "three\n"),
    ]


def test_tail_then_follow_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    """tail(n) and follow() taken together (no await between) cover every entry once."""

    async def scenario() -> list[str]:
        log = ServiceLog(tmp_path / "web.log")
        for i in range(5):
            log.append(STDOUT, f"{i}\n".encode(), T0)
        seen = [e.log for e in log.tail(2)]
        follower = log.follow()
        log.append(STDOUT, b"5\n", T0)
        seen.append((await anext(follower)).log)
        follower.close()
        assert [e async for e in follower] == []
        return seen

    assert asyncio.run(scenario()) == ["3\n", "4\n", "5\n"]


def test_a_slow_follower_drops_the_oldest_entries(tmp_path: Path) -> None:
    """The backlog per follower is bounded; what was dropped is counted."""

    async def scenario() -> tuple[int, str]:
        log = ServiceLog(tmp_path / "web.log")
        follower = log.follow()
        for i in range(_logs.FOLLOW_BACKLOG + 3):
            log.append(STDOUT, f"{i}\n".encode(), T0)
        return follower.dropped, (await anext(follower)).log

    assert asyncio.run(scenario()) == (3, "3\n")


def test_following_a_closed_log_ends_at_once(tmp_path: Path) -> None:
    """follow() after close() yields nothing."""

    async def scenario() -> list[LogEntry]:
        log = ServiceLog(tmp_path / "web.log")
        log.close()
        return [e async for e in log.follow()]

    assert asyncio.run(scenario()) == []


# ---- a file system that fails ------------------------------------------------------------


def test_a_full_disk_costs_the_log_its_file_not_the_daemon(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """/dev/full answers every write with ENOSPC: entries are counted as lost, the failure
    is logged once (not once per line), followers still get every entry, and nothing
    raises (issue 7: 26,111 tracebacks and 130 MB/s of growth)."""
    log = ServiceLog("/dev/full", max_size=0)
    follower = log.follow()
    with caplog.at_level("WARNING", logger="vigil"):
        for index in range(5000):
            log.append(STDOUT, b"line %d\n" % index, T0)
    assert log.failure == "No space left on device"
    assert log.lost == 5000
    assert log.problem == "log file /dev/full: No space left on device; 5000 entries not saved"
    assert len(caplog.records) == 1
    assert "cannot write the service's log (No space left on device)" in caplog.messages[0]
    assert len(follower._queue) == 5000
    log.close()


def test_a_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    """ENAMETOOLONG when opening: the same degradation; ``tail`` is empty, not an error."""
    log = ServiceLog(tmp_path / ("n" * 300 + ".log"))
    log.append(STDOUT, b"hello\n", T0)
    assert (log.failure, log.lost) == ("File name too long", 1)
    assert log.tail() == []
    log.close()


def test_writing_resumes_when_the_file_system_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After a failure, writing is tried again every RETRY_EVERY lost entries; the first
    that succeeds clears the problem and says how many were lost."""
    log = ServiceLog(tmp_path / "web.log")
    real_write = _logs.os.write
    failing = True

    def write(fd: int, data: bytes) -> int:
        if failing:
            raise OSError(5, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(_logs.os, "write", write)
    with caplog.at_level("WARNING", logger="vigil"):
        for index in range(_logs.RETRY_EVERY + 10):
            if index == 500:
                failing = False  # recovered, but only the next retry finds out
            log.append(STDOUT, b"line %d\n" % index, T0)
    assert log.failure is None
    assert log.problem == ""
    assert log.tail()[0].log == f"line {_logs.RETRY_EVERY}\n"
    assert len(log.tail()) == 10
    assert caplog.messages[-1].endswith(f"writing again after {_logs.RETRY_EVERY} lost entries")
    log.close()
