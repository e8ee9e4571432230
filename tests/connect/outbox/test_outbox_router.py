"""The outbox event router as plain functions: Debezium envelopes of an outbox table, built by hand in the
shape the Postgres CDC source writes, routed with each option."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect.api import ConnectError, SourceRecord
from streamlog.connect.data import INT64, OPTIONAL_INT32, OPTIONAL_STRING, STRING, Field, Schema, Type, struct
from streamlog.connect.plugins import transform_plugin
from streamlog.connect.transforms.outbox_router import PLUGIN, EventRouter
from streamlog.connect.transforms.outbox_router_config import (
    JsonNullBehavior,
    expand_replacement,
    java_regex,
    router_options,
)
from streamlog.connect.transforms.outbox_router_json import expand_json

JSON = Schema(Type.STRING, optional=True, name="io.debezium.data.Json", version=1)
ZONED = Schema(Type.STRING, optional=True, name="io.debezium.time.ZonedTimestamp", version=1)
MICROS = Schema(Type.INT64, optional=True, name="io.debezium.time.MicroTimestamp", version=1)
ROW = struct("dbserver1.public.outbox.Value", [
    ("id", Schema(Type.STRING, name="io.debezium.data.Uuid", version=1)),
    ("aggregatetype", STRING), ("aggregateid", STRING), ("type", STRING), ("payload", JSON),
    ("created", ZONED), ("created_us", MICROS), ("shard", OPTIONAL_INT32), ("trace", OPTIONAL_STRING),
], optional=True)
ENVELOPE = struct("dbserver1.public.outbox.Envelope", [
    ("before", ROW), ("after", ROW), ("source", struct("io.debezium.connector.postgresql.Source",
                                                       [("lsn", INT64)])),
    ("op", STRING), ("ts_ms", Schema(Type.INT64, optional=True)),
], version=2)
KEY = struct("dbserver1.public.outbox.Key", [("id", STRING)])
EVENT_ID = "4d47e190-0402-4048-bc2c-89dd54343cdc"
PAYLOAD = ('{"id": 1, "lineItems": [{"id": 1, "qty": 2, "price": 39.98}, {"id": 2, "qty": 1}], '
           '"customerId": 123}')


def row(**changes: Any) -> dict[str, Any]:
    values = {"id": EVENT_ID, "aggregatetype": "order", "aggregateid": "1", "type": "OrderCreated",
              "payload": PAYLOAD, "created": "2019-05-03T13:31:34.344Z", "created_us": 1556890294344123,
              "shard": 2, "trace": "abc"}
    values.update(changes)
    return values


def change(op: str, after: dict[str, Any] | None = None, before: dict[str, Any] | None = None,
           ts_ms: int = 1556890294484) -> SourceRecord:
    value = {"before": before, "after": after if after is not None or op in "dt" else row(),
             "source": {"lsn": 24064704}, "op": op, "ts_ms": ts_ms}
    return SourceRecord({"server": "dbserver1"}, {"lsn": 24064704}, "dbserver1.public.outbox", KEY,
                        {"id": EVENT_ID}, ENVELOPE, value, timestamp=ts_ms - 10)


def router(**options: str) -> EventRouter:
    return EventRouter(router_options({k.replace("_", "."): v for k, v in options.items()}))


def test_defaults_route_an_insert_as_debezium_does() -> None:
    out = router().apply(change("c"))
    assert out is not None
    assert out.topic == "outbox.event.order"
    assert (out.key_schema, out.key) == (STRING, "1")
    assert (out.value_schema, out.value) == (JSON, PAYLOAD)
    assert out.headers == (("id", EVENT_ID),)
    assert out.timestamp == 1556890294484  # the envelope's ts_ms
    assert out.partition is None
    assert out.source_offset == {"lsn": 24064704}  # offsets stay the connector's


def test_snapshot_reads_are_routed_too() -> None:
    out = router().apply(change("r"))
    assert out is not None and out.topic == "outbox.event.order"


@pytest.mark.parametrize("op", ["d", "t", "m"])
def test_deletes_truncates_and_messages_are_dropped(op: str) -> None:
    assert router().apply(change(op, after=None, before=row())) is None


def test_tombstones_are_dropped() -> None:
    tombstone = change("c").with_(value=None, value_schema=None)
    assert router().apply(tombstone) is None


def test_records_that_are_not_change_events_pass_through() -> None:
    heartbeat = SourceRecord({"server": "x"}, {"lsn": 1}, "__debezium-heartbeat.x", None, None, None,
                             {"ts_ms": 5})
    assert router().apply(heartbeat) is heartbeat


def test_update_warns_by_default_and_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert router().apply(change("u", before=row())) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "UPDATE" in caplog.text


def test_update_with_error_behavior_logs_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert router(table_op_invalid_behavior="error").apply(change("u")) is None
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_update_with_fatal_behavior_fails() -> None:
    with pytest.raises(ConnectError, match="fatal"):
        router(table_op_invalid_behavior="fatal").apply(change("u"))


def test_column_options_pick_other_columns() -> None:
    out = router(**{"table.field.event.id": "trace", "table.field.event.key": "type",
                    "table.field.event.payload": "aggregateid", "route.by.field": "type"}).apply(change("c"))
    assert out is not None
    assert out.topic == "outbox.event.OrderCreated"
    assert (out.key, out.value, out.headers) == ("OrderCreated", "1", (("id", "abc"),))


def test_missing_column_names_the_option() -> None:
    with pytest.raises(ConnectError, match=r"'nope'.*table\.field\.event\.payload"):
        router(**{"table.field.event.payload": "nope"}).apply(change("c"))
    with pytest.raises(ConnectError, match=r"'nope'.*table\.field\.event\.id"):
        router(**{"table.field.event.id": "nope"}).apply(change("c"))


def test_no_key_column_means_no_key() -> None:
    out = router(**{"table.field.event.key": "nope"}).apply(change("c"))
    assert out is not None and (out.key, out.key_schema) == (None, OPTIONAL_STRING)
    null_key = router().apply(change("c", after=row(aggregateid=None)))
    assert null_key is not None and null_key.key is None


def test_timestamp_column_zoned_and_micro() -> None:
    zoned = router(**{"table.field.event.timestamp": "created"}).apply(change("c"))
    micro = router(**{"table.field.event.timestamp": "created_us"}).apply(change("c"))
    assert zoned is not None and zoned.timestamp == 1556890294344
    assert micro is not None and micro.timestamp == 1556890294344


def test_additional_placement_header_envelope_partition() -> None:
    out = router(**{"table.fields.additional.placement": "type:header:eventType,type:envelope:kind,"
                    "shard:partition, trace:envelope"}).apply(change("c"))
    assert out is not None
    assert out.headers == (("id", EVENT_ID), ("eventType", "OrderCreated"))
    assert out.partition == 2
    assert out.value == {"payload": PAYLOAD, "kind": "OrderCreated", "trace": "abc"}
    assert out.value_schema is not None
    assert [(f.name, f.schema) for f in out.value_schema.fields] == [
        ("payload", JSON), ("kind", STRING), ("trace", OPTIONAL_STRING)]


def test_additional_placement_missing_column() -> None:
    options = {"table.fields.additional.placement": "nope:header"}
    with pytest.raises(ConnectError, match="nope"):
        router(**options).apply(change("c"))
    out = router(**options, **{"table.fields.additional.error.on.missing": "false"}).apply(change("c"))
    assert out is not None and out.headers == (("id", EVENT_ID),)


def test_bad_placement_is_a_config_error() -> None:
    with pytest.raises(ConnectError, match="placement must be"):
        router_options({"table.fields.additional.placement": "type:body"})
    with pytest.raises(ConnectError, match="column:placement"):
        router_options({"table.fields.additional.placement": "type"})


def test_regex_routing_with_java_groups() -> None:
    options = {"route.topic.regex": "(?<kind>[a-z]+)-(?<region>eu|us)",
               "route.topic.replacement": "events.${region}.$1\\$"}
    out = router(**options).apply(change("c", after=row(aggregatetype="order-eu")))
    assert out is not None and out.topic == "events.eu.order$"
    unmatched = router(**options).apply(change("c", after=row(aggregatetype="Customer")))
    assert unmatched is not None and unmatched.topic == "Customer"  # RegexRouter leaves it alone


def test_regex_lookbehind_is_not_a_named_group() -> None:
    pattern = java_regex("(?<=a)b|(?<!c)(?<name>d)")
    match = pattern.fullmatch("d")
    assert match is not None and expand_replacement("x${name}", match) == "xd"


def test_replacement_naming_an_unknown_group() -> None:
    with pytest.raises(ConnectError, match="no group"):
        router(**{"route.topic.replacement": "t.${nope}"}).apply(change("c"))


def test_null_route_by_value() -> None:
    with pytest.raises(ConnectError, match=r"route\.by\.field"):
        router().apply(change("c", after=row(aggregatetype=None)))


@pytest.mark.parametrize("payload", [None, "", "  "])
def test_tombstone_on_empty_payload(payload: str | None) -> None:
    tombstones = router(**{"route.tombstone.on.empty.payload": "true"})
    out = tombstones.apply(change("c", after=row(payload=payload)))
    assert out is not None
    assert (out.key, out.value, out.value_schema) == ("1", None, None)
    assert out.headers == (("id", EVENT_ID),)
    kept = router().apply(change("c", after=row(payload=None)))
    assert kept is not None and (kept.value, kept.value_schema) == (None, JSON)


def test_expand_json_payload() -> None:
    out = router(**{"table.expand.json.payload": "true"}).apply(change("c"))
    assert out is not None
    assert out.value == {"id": 1, "lineItems": [{"id": 1, "qty": 2, "price": 39.98},
                                                {"id": 2, "qty": 1, "price": None}], "customerId": 123}
    schema = out.value_schema
    assert schema is not None and schema.type is Type.STRUCT and schema.name is None
    assert [(f.name, f.schema.type) for f in schema.fields] == [
        ("id", Type.INT32), ("lineItems", Type.ARRAY), ("customerId", Type.INT32)]
    items = schema.fields[1].schema.items
    assert items is not None and items.name == "lineItems"
    assert [(f.name, f.schema.type) for f in items.fields] == [
        ("id", Type.INT32), ("qty", Type.INT32), ("price", Type.FLOAT64)]


def test_expand_json_keeps_what_is_not_json() -> None:
    out = router(**{"table.expand.json.payload": "true"}).apply(change("c", after=row(payload="not json")))
    assert out is not None and (out.value, out.value_schema) == ("not json", JSON)


def test_expand_json_null_behavior() -> None:
    assert expand_json('{"a": null, "b": 1}', JsonNullBehavior.IGNORE) == (
        Schema(Type.STRUCT, optional=True, fields=(Field("b", Schema(Type.INT32, optional=True)),)), {"b": 1})
    found = expand_json('{"a": null, "b": 1}', JsonNullBehavior.OPTIONAL_BYTES)
    assert found is not None
    assert found[0].fields[0].name == "a"
    assert found[0].fields[0].schema == Schema(Type.BYTES, optional=True)
    assert found[1] == {"a": None, "b": 1}
    merged = expand_json('[{"a": null}, {"a": "x"}]', JsonNullBehavior.OPTIONAL_BYTES)
    assert merged is not None and merged[1] == [{"a": None}, {"a": "x"}]
    assert merged[0].items is not None and merged[0].items.fields[0].schema.type is Type.STRING


def test_expand_json_debezium_typing() -> None:
    found = expand_json('{"big": 5000000000, "huge": 1e400, "empty": [], "c": {"d": {"e": true}}}',
                        JsonNullBehavior.IGNORE)
    assert found is not None
    schema, value = found
    assert [(f.name, f.schema.type) for f in schema.fields] == [
        ("big", Type.INT64), ("huge", Type.FLOAT64), ("c", Type.STRUCT)]  # an empty array has no schema
    inner = schema.fields[2].schema
    assert inner.name == "c" and inner.fields[0].schema.name == "c.d"
    assert value == {"big": 5000000000, "huge": float("inf"), "c": {"d": {"e": True}}}


def test_expand_json_conflicts_keep_the_text() -> None:
    assert expand_json('[1, "a"]', JsonNullBehavior.IGNORE) is None
    assert expand_json('[1, 2.5]', JsonNullBehavior.IGNORE) is None  # int32 and float64: not one type
    assert expand_json('[{"a": 1}, {"a": "x"}]', JsonNullBehavior.IGNORE) is None
    assert expand_json('"just text"', JsonNullBehavior.IGNORE) is None
    assert expand_json(' {"a": 1}', JsonNullBehavior.IGNORE) is None  # Debezium: must start with { or [


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20)


def _conforms(value: Any, schema: Schema) -> bool:
    if value is None:
        return schema.optional
    if schema.type is Type.STRUCT:
        return isinstance(value, dict) and list(value) == [f.name for f in schema.fields] and all(
            _conforms(value[f.name], f.schema) for f in schema.fields)
    if schema.type is Type.ARRAY:
        return isinstance(value, list) and schema.items is not None and all(
            _conforms(v, schema.items) for v in value)
    expected = {Type.BOOLEAN: bool, Type.INT32: int, Type.INT64: int, Type.FLOAT64: float,
                Type.STRING: str, Type.BYTES: type(None)}[schema.type]
    in_range = schema.type is not Type.INT32 or -(2**31) <= value < 2**31
    return isinstance(value, expected) and in_range and (
        schema.type is Type.BOOLEAN or not isinstance(value, bool))


@given(st.dictionaries(st.text(max_size=4), _json_values, max_size=5))
def test_expanded_json_always_fits_its_schema(document: dict[str, Any]) -> None:
    for nulls in JsonNullBehavior:
        found = expand_json(json.dumps(document), nulls)
        if found is None:
            continue  # an array mixing types: kept as text
        schema, value = found
        assert _conforms(value, schema)


def test_schema_version_column_versions_the_envelope() -> None:
    options = {"table.field.event.schema.version": "shard",
               "table.fields.additional.placement": "type:envelope"}
    out = router(**options).apply(change("c"))
    assert out is not None and out.value_schema is not None
    assert (out.value_schema.name, out.value_schema.version) == ("dbserver1.public.outbox.order.Value", 2)
    plain = router(**{"table.field.event.schema.version": "shard"}).apply(change("c"))
    assert plain is not None and plain.value_schema == JSON  # no envelope: the payload's own schema


def test_schemaless_envelope() -> None:
    record = change("c").with_(value_schema=None, key_schema=None)
    out = router(**{"table.fields.additional.placement": "type:envelope"}).apply(record)
    assert out is not None
    assert (out.topic, out.key, out.value_schema) == ("outbox.event.order", "1", None)
    assert out.value == {"payload": PAYLOAD, "type": "OrderCreated"}


def test_plugin_is_found_by_both_names() -> None:
    assert transform_plugin("io.debezium.transforms.outbox.EventRouter") is PLUGIN
    assert transform_plugin("outbox-router") is PLUGIN
    names = {key.name for key in PLUGIN.config_def.keys}
    assert {"route.by.field", "route.topic.regex", "table.op.invalid.behavior"} <= names
    assert "tracing.span.context.field" in PLUGIN.config_def.unsupported
    assert isinstance(PLUGIN.factory({}), EventRouter)


def test_bad_choices_are_config_errors() -> None:
    with pytest.raises(ConnectError, match=r"table\.op\.invalid\.behavior"):
        router_options({"table.op.invalid.behavior": "explode"})
    with pytest.raises(ConnectError, match=r"route\.tombstone\.on\.empty\.payload"):
        router_options({"route.tombstone.on.empty.payload": "yes"})
    with pytest.raises(ConnectError, match=r"route\.topic\.regex"):
        router_options({"route.topic.regex": "(unclosed"})
