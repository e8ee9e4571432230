"""The .checkpoint file: Kafka Streams' text format, atomic replacement, corrupt files read as empty."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.streams.state.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointFormatError,
    OffsetCheckpoint,
    parse,
    render,
)

TOPICS = st.text(alphabet="abcxyz._-0123456789", min_size=1, max_size=20)
OFFSETS = st.dictionaries(st.tuples(TOPICS, st.integers(0, 10_000)), st.integers(0, 2**63 - 1), max_size=10)


def test_writes_kafka_streams_format(tmp_path: Path) -> None:
    OffsetCheckpoint.in_directory(tmp_path).write({("b-changelog", 1): 7, ("a-changelog", 3): 1042})
    assert (tmp_path / CHECKPOINT_FILE).read_text() == "0\n2\na-changelog 3 1042\nb-changelog 1 7\n"
    assert not (tmp_path / (CHECKPOINT_FILE + ".tmp")).exists()


def test_reads_a_file_written_by_kafka_streams(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT_FILE).write_text("0\n2\nwc-counts-changelog 0 15\nwc-counts-changelog 1 0\n")
    assert OffsetCheckpoint.in_directory(tmp_path).read() == {
        ("wc-counts-changelog", 0): 15, ("wc-counts-changelog", 1): 0}


@settings(max_examples=200)
@given(OFFSETS)
def test_round_trip(offsets: dict[tuple[str, int], int]) -> None:
    assert parse(render(offsets)) == offsets


def test_round_trip_through_file_and_replace(tmp_path: Path) -> None:
    checkpoint = OffsetCheckpoint.in_directory(tmp_path)
    assert checkpoint.read() == {}
    checkpoint.write({("t", 0): 5})
    checkpoint.write({("t", 0): 9, ("u", 2): 1})
    assert checkpoint.read() == {("t", 0): 9, ("u", 2): 1}
    checkpoint.write({})
    assert checkpoint.read() == {}
    checkpoint.delete()
    checkpoint.delete()
    assert not checkpoint.path.exists()


@pytest.mark.parametrize("text", [
    "",
    "0\n",
    "1\n1\nt 0 5\n",              # unknown version
    "0\n2\nt 0 5\n",              # count says 2, one entry
    "0\n1\nt 0 5\nu 0 6\n",       # count says 1, two entries
    "0\n1\nt 0\n",                # two fields
    "0\n1\nt 0 5 9\n",            # four fields
    "0\n1\nt x 5\n",              # partition not a number
    "0\n1\nt 0 -5\n",             # negative offset
    "0\n2\nt 0 5\nt 0 6\n",       # duplicate topic-partition
    "zero\n0\n",
    "0\n1\nt  0 5\n",             # double space
    "0\n1\nt 0 ٣\n",              # a non-ASCII digit
])
def test_corrupt_file_reads_as_no_checkpoint_with_warning(
        tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / CHECKPOINT_FILE).write_text(text)
    with pytest.raises(CheckpointFormatError):
        parse(text.encode())
    with caplog.at_level(logging.WARNING, logger="streamlog.streams.state.checkpoint"):
        assert OffsetCheckpoint.in_directory(tmp_path).read() == {}
    assert "corrupt checkpoint" in caplog.text and str(tmp_path) in caplog.text


def test_binary_garbage_reads_as_no_checkpoint(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"\xff\xfe\x00garbage")
    assert OffsetCheckpoint.in_directory(tmp_path).read() == {}


def test_trailing_blank_lines_are_tolerated() -> None:
    assert parse(b"0\n1\nt 0 5\n\n\n") == {("t", 0): 5}


@pytest.mark.parametrize("offsets", [{("has space", 0): 1}, {("", 0): 1}, {("t", -1): 1}, {("t", 0): -1}])
def test_refuses_to_write_what_it_could_not_read(tmp_path: Path, offsets: dict[tuple[str, int], int]) -> None:
    checkpoint = OffsetCheckpoint.in_directory(tmp_path)
    with pytest.raises(ValueError):
        checkpoint.write(offsets)
    assert not checkpoint.path.exists()


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = OffsetCheckpoint.in_directory(tmp_path)
    checkpoint.write({("t", 0): 5})

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("streamlog.streams.state.checkpoint.os.fsync", broken_fsync)
    with pytest.raises(OSError):
        checkpoint.write({("t", 0): 99})
    monkeypatch.undo()
    assert checkpoint.read() == {("t", 0): 5}
