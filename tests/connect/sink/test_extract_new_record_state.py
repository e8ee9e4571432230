"""Debezium's ExtractNewRecordState transform as plain functions over hand-built change events."""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.connect.api import ConnectError, SourceRecord
from streamlog.connect.data import INT32, INT64, OPTIONAL_STRING, STRING, Schema, struct
from streamlog.connect.plugins import transform_plugin
from streamlog.connect.transforms.extract_new_record_state import ExtractNewRecordState

ROW = struct("inv.public.items.Value", [("id", INT32), ("name", OPTIONAL_STRING)], optional=True)
SOURCE = struct("io.debezium.connector.postgresql.Source", [("table", STRING), ("lsn", INT64.as_optional()),
                                                             ("ts_ms", INT64)])
ENVELOPE = struct("inv.public.items.Envelope", [("before", ROW), ("after", ROW), ("source", SOURCE),
                                                 ("op", STRING), ("ts_ms", INT64.as_optional())])
KEY = struct("inv.public.items.Key", [("id", INT32)])


def event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> SourceRecord:
    value = {"before": before, "after": after, "source": {"table": "items", "lsn": 77, "ts_ms": 5},
             "op": op, "ts_ms": 9}
    return SourceRecord({"server": "inv"}, {"lsn": 77}, "inv.public.items", KEY, {"id": 1}, ENVELOPE, value,
                        headers=(("h", "v"),))


def tombstone() -> SourceRecord:
    return SourceRecord({"server": "inv"}, {"lsn": 78}, "inv.public.items", KEY, {"id": 1}, None, None)


def transform(**options: str) -> ExtractNewRecordState:
    return ExtractNewRecordState({k.replace("_", "."): v for k, v in options.items()})


def test_creates_updates_and_reads_become_the_after_image() -> None:
    unwrap = transform()
    for op in "cur":
        out = unwrap.apply(event(op, {"id": 1, "name": "old"}, {"id": 1, "name": "new"}))
        assert out is not None
        assert (out.value_schema, out.value, out.key, out.topic, out.headers) == (
            ROW, {"id": 1, "name": "new"}, {"id": 1}, "inv.public.items", (("h", "v"),))


@pytest.mark.parametrize(("options", "delete_out", "tombstone_kept"), [
    ({}, "tombstone", True),  # delete.tombstone.handling.mode=tombstone, the default
    ({"delete.tombstone.handling.mode": "drop"}, None, False),
    ({"delete.tombstone.handling.mode": "tombstone"}, "tombstone", True),
    ({"delete.tombstone.handling.mode": "rewrite"}, "rewrite", False),
    ({"delete.tombstone.handling.mode": "rewrite-with-tombstone"}, "rewrite", True),
    ({"delete.tombstone.handling.mode": "delete-to-tombstone"}, "tombstone", False),
    ({"delete.handling.mode": "drop"}, None, False),
    ({"drop.tombstones": "false"}, None, True),
    ({"delete.handling.mode": "none"}, "tombstone", False),
    ({"delete.handling.mode": "none", "drop.tombstones": "false"}, "tombstone", True),
    ({"delete.handling.mode": "rewrite"}, "rewrite", False),
    ({"delete.handling.mode": "rewrite", "drop.tombstones": "false"}, "rewrite", True),
])
def test_deletes_and_tombstones(options: dict[str, str], delete_out: str | None,
                                tombstone_kept: bool) -> None:
    unwrap = ExtractNewRecordState(options)
    out = unwrap.apply(event("d", {"id": 1, "name": "gone"}, None))
    if delete_out is None:
        assert out is None
    elif delete_out == "tombstone":
        assert out is not None
        assert (out.key, out.value, out.value_schema) == ({"id": 1}, None, None)
    else:
        assert out is not None
        assert out.value == {"id": 1, "name": "gone", "__deleted": "true"}
        assert out.value_schema is not None
        assert [f.name for f in out.value_schema.fields] == ["id", "name", "__deleted"]
        created = unwrap.apply(event("c", None, {"id": 2, "name": "x"}))
        assert created is not None
        assert created.value == {"id": 2, "name": "x", "__deleted": "false"}
        assert created.value_schema == out.value_schema
    kept = unwrap.apply(tombstone())
    assert (kept is not None) == tombstone_kept


def test_added_fields_and_headers() -> None:
    unwrap = transform(add_fields="op,table,source.ts_ms,ts_ms", add_headers="op,lsn",
                       add_headers_prefix="dbz.")
    out = unwrap.apply(event("u", None, {"id": 1, "name": "n"}))
    assert out is not None
    assert out.value == {"id": 1, "name": "n", "__op": "u", "__table": "items", "__source_ts_ms": 5,
                         "__ts_ms": 9}
    assert out.value_schema is not None
    assert [(f.name, f.schema) for f in out.value_schema.fields[2:]] == [
        ("__op", STRING.as_optional()), ("__table", STRING.as_optional()),
        ("__source_ts_ms", INT64.as_optional()), ("__ts_ms", INT64.as_optional())]
    assert out.value_schema.name == ROW.name
    assert out.headers == (("h", "v"), ("dbz.op", "u"), ("dbz.lsn", 77))
    again = unwrap.apply(event("c", None, {"id": 2, "name": None}))
    assert again is not None and again.value_schema is out.value_schema  # one schema object per row schema


def test_non_envelopes_pass_and_truncates_are_dropped() -> None:
    heartbeat = SourceRecord({}, {}, "__debezium-heartbeat.inv", None, None, struct("hb", [("ts", INT64)]),
                             {"ts": 1})
    assert transform().apply(heartbeat) is heartbeat
    assert transform().apply(event("t", None, None)) is None
    schemaless = SourceRecord({}, {}, "t", None, None, None, {"op": "c", "before": None, "after": {"id": 3}})
    out = transform(add_fields="op", delete_tombstone_handling_mode="rewrite").apply(schemaless)
    assert out is not None and out.value == {"id": 3, "__op": "c", "__deleted": "false"}
    assert out.value_schema is None


@pytest.mark.parametrize(("options", "message"), [
    ({"delete.tombstone.handling.mode": "keep"}, "is not one of"),
    ({"delete.tombstone.handling.mode": "drop", "drop.tombstones": "true"}, "not both"),
    ({"delete.handling.mode": "erase"}, "is not one of drop, none, rewrite"),
])
def test_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectError, match=message):
        ExtractNewRecordState(options)


def test_registered_under_debeziums_class_name() -> None:
    plugin = transform_plugin("io.debezium.transforms.ExtractNewRecordState")
    assert isinstance(plugin.factory({"delete.tombstone.handling.mode": "rewrite"}), ExtractNewRecordState)
    assert "replace.null.with.default" in plugin.config_def.unsupported
    assert transform_plugin("extract-new-record-state") is plugin


_ = Schema
