"""The _schemas record codec: Confluent's exact bytes, round trips, and malformed input."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from streamlog.registry import records
from streamlog.registry.formats.base import SchemaType
from streamlog.registry.model import CompatibilityLevel, Mode, Reference, SchemaId, SchemaVersion
from streamlog.registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    Ignored,
    Malformed,
    ModeRecord,
    NoopRecord,
    SchemaRecord,
    SchemaTombstone,
)


def test_schema_key_uses_confluents_canonical_field_order() -> None:
    version = SchemaVersion("orders-value", 3, SchemaId(7), '"string"')
    key, value = records.encode(SchemaRecord(version))
    assert key == b'{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}'
    assert value is not None
    assert json.loads(value) == {"subject": "orders-value", "version": 3, "id": 7, "schema": '"string"',
                                 "deleted": False}


def test_schema_type_is_omitted_for_avro_and_written_otherwise() -> None:
    _, avro = records.encode(SchemaRecord(SchemaVersion("s", 1, SchemaId(1), '"int"')))
    _, proto = records.encode(SchemaRecord(SchemaVersion("s", 1, SchemaId(1), 'syntax = "proto3";',
                                                         SchemaType.PROTOBUF)))
    assert avro is not None and proto is not None
    assert "schemaType" not in json.loads(avro)
    assert json.loads(proto)["schemaType"] == "PROTOBUF"


def test_reads_records_as_confluent_writes_them() -> None:
    key = b'{"keytype":"SCHEMA","subject":"pay-value","version":1,"magic":1}'
    value = (b'{"subject":"pay-value","version":1,"id":42,"schemaType":"JSON","references":'
             b'[{"name":"c.json","subject":"c","version":2}],"schema":"{}","deleted":true}')
    decoded = records.decode(key, value)
    assert decoded == SchemaRecord(SchemaVersion("pay-value", 1, SchemaId(42), "{}", SchemaType.JSON,
                                                 (Reference("c.json", "c", 2),), True))
    assert records.decode(b'{"keytype":"CONFIG","subject":null,"magic":0}',
                          b'{"compatibilityLevel":"FULL"}') == ConfigRecord(None, CompatibilityLevel.FULL)
    assert records.decode(b'{"keytype":"CONFIG","subject":"x","magic":0}', None) == ConfigRecord("x", None)
    assert records.decode(b'{"keytype":"MODE","subject":"x","magic":0}',
                          b'{"mode":"READONLY"}') == ModeRecord("x", Mode.READONLY)
    assert records.decode(b'{"keytype":"DELETE_SUBJECT","subject":"x","magic":0}',
                          b'{"subject":"x","version":4}') == DeleteSubjectRecord("x", 4)
    assert records.decode(b'{"keytype":"NOOP","magic":0}', None) == NoopRecord()
    assert records.decode(b'{"keytype":"CLEAR_SUBJECT","subject":"x","magic":0}', b"{}") == \
        Ignored("CLEAR_SUBJECT")
    assert records.decode(b'{"keytype":"SCHEMA","subject":"x","version":2,"magic":1}', None) == \
        SchemaTombstone("x", 2)


def test_malformed_records_decode_to_malformed_never_raise() -> None:
    for key, value in [
        (None, None), (b"not json", b"{}"), (b"[1]", None), (b'{"keytype":"SCHEMA"}', b"{}"),
        (b'{"keytype":"SCHEMA","subject":"x","version":1}', b'{"id":"x","schema":"s"}'),
        (b'{"keytype":"CONFIG","subject":null}', b'{"compatibilityLevel":"SIDEWAYS"}'),
        (b'{"keytype":"MODE","subject":null}', b'{"mode":"WRITEONLY"}'),
        (b'{"keytype":"DELETE_SUBJECT","subject":"x"}', None), (b'{"keytype":7}', None),
        (b'{"keytype":"SCHEMA","subject":"x","version":1}', b'"a string"'),
    ]:
        assert isinstance(records.decode(key, value), Malformed), (key, value)


names = st.text(min_size=1, max_size=20)
versions = st.builds(
    SchemaVersion, subject=names, version=st.integers(1, 2**31 - 1),
    schema_id=st.integers(1, 2**31 - 1).map(SchemaId), schema=st.text(max_size=50),
    schema_type=st.sampled_from(list(SchemaType)),
    references=st.lists(st.builds(Reference, names, names, st.integers(1, 100)), max_size=3).map(tuple),
    deleted=st.booleans(), metadata=st.none() | st.fixed_dictionaries({"properties": st.dictionaries(names,
                                                                                                     names)}),
    rule_set=st.none())
any_record = st.one_of(
    versions.map(SchemaRecord), st.builds(SchemaTombstone, names, st.integers(1, 1000)),
    st.builds(ConfigRecord, st.none() | names, st.none() | st.sampled_from(list(CompatibilityLevel))),
    st.builds(ModeRecord, st.none() | names, st.none() | st.sampled_from(list(Mode))),
    st.builds(DeleteSubjectRecord, names, st.integers(1, 1000)), st.just(NoopRecord()))


@given(any_record)
def test_every_record_round_trips(record: records.Record) -> None:
    key, value = records.encode(record)
    assert records.decode(key, value) == record
