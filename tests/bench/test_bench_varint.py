"""Smoke test of ``python -m bench.varint``: every reader runs on every batch and the table has its rows."""

from __future__ import annotations

import pytest

from bench import varint


def test_every_reader_runs_on_every_batch(capsys: pytest.CaptureFixture[str]) -> None:
    assert varint.main(["--repeat", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[2:]] == list(varint.READERS)
    for case in varint.CASES:
        assert case in out[1]


def test_readers_agree_on_what_the_batch_holds() -> None:
    fns = varint.readers(varint.make_batch(100, headers=2, records=50))
    records = fns["iter_records"]()
    scanned = fns["scan_records"]()
    assert isinstance(records, list) and isinstance(scanned, list)
    assert [r.key for r in records] == [s[6] for s in scanned] == [b"key-%08d" % i for i in range(50)]
    assert all(len(r.headers) == 2 for r in records)
