"""The registry's rules, on a store fed by the records each write returns (no Kafka, no HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.model import CompatibilityLevel, Mode, Reference
from streamlog.registry.operations import Operations, Write
from streamlog.registry.requests import LATEST, SchemaRequest, schema_request
from streamlog.registry.store import SchemaStore


def avro(fields: list[tuple[str, str]], name: str = "Order", **extra: Any) -> str:
    return json.dumps({"type": "record", "name": name,
                       "fields": [{"name": n, "type": t, **extra.get(n, {})} for n, t in fields]})


def request(schema: str, schema_type: str = "AVRO", references: list[dict[str, Any]] | None = None,
            **fields: Any) -> SchemaRequest:
    return schema_request({"schema": schema, "schemaType": schema_type, "references": references or [],
                           **fields})


class Registry:
    """Operations over a store, applying each write's records as the topic reader would."""

    def __init__(self) -> None:
        self.store = SchemaStore()
        self.ops = Operations(self.store)
        self.written = 0

    def apply(self, write: Write) -> Any:
        for record in write.records:
            self.store.apply(record)
            self.written += 1
        return write.response

    def register(self, subject: str, schema: str, **kwargs: Any) -> int:
        normalize = kwargs.pop("normalize", False)
        return int(self.apply(self.ops.register(subject, request(schema, **kwargs), normalize))["id"])


def code_of(call: Any) -> int:
    with pytest.raises(RegistryError) as info:
        call()
    return int(info.value.code)


def test_same_schema_same_id_new_version_elsewhere_idempotent_in_place() -> None:
    r = Registry()
    first = r.register("a", avro([("id", "int")]))
    assert r.register("a", avro([("id", "int")])) == first
    assert r.written == 1  # the repeat wrote nothing
    assert r.register("b", avro([("id", "int")])) == first
    assert [v.version for v in r.store.subjects["b"].live()] == [1]
    assert r.register("a", avro([("id", "int"), ("n", "int")], n={"default": 0})) == first + 1


def test_whitespace_and_key_order_do_not_make_a_new_schema() -> None:
    r = Registry()
    one = r.register("a", '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}')
    two = r.register("a", '{"fields":[{"type":"int","name":"x"}],\n "name":"R","type":"record"}')
    assert one == two


def test_incompatible_registration_is_409_and_writes_nothing() -> None:
    r = Registry()
    r.register("a", avro([("id", "int")]))
    before = r.written
    with pytest.raises(RegistryError) as info:
        r.ops.register("a", request(avro([("id", "int"), ("x", "int")])), False)
    error = info.value
    assert error.code == ErrorCode.INCOMPATIBLE_SCHEMA and error.code.http_status == 409
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in error.message and "oldSchemaVersion: 1" in error.message
    assert r.written == before


def test_levels_are_checked_in_the_right_direction() -> None:
    r = Registry()
    r.apply(r.ops.set_config("fw", CompatibilityLevel.FORWARD))
    r.register("fw", avro([("id", "int"), ("x", "int")]))
    # FORWARD: old readers must read new data; removing a field without a default in the old schema breaks
    assert code_of(lambda: r.register("fw", avro([("id", "int")]))) == 409
    # adding a field is fine for FORWARD (old readers ignore it)
    r.register("fw", avro([("id", "int"), ("x", "int"), ("y", "int")]))
    r.apply(r.ops.set_config("none", CompatibilityLevel.NONE))
    r.register("none", avro([("id", "int")]))
    r.register("none", avro([("id", "string"), ("q", "int")]))


def test_transitive_checks_every_live_version() -> None:
    r = Registry()
    r.apply(r.ops.set_config("t", CompatibilityLevel.BACKWARD_TRANSITIVE))
    r.register("t", avro([("a", "int")]))
    r.register("t", avro([("a", "int"), ("b", "int")], b={"default": 1}))
    r.register("t", avro([("b", "int")], b={"default": 1}))  # compatible with v2 and v1 (a ignored)
    # v4 requires 'a' without default: v3 lacks it -> incompatible under BACKWARD
    assert code_of(lambda: r.register("t", avro([("a", "long"), ("b", "int")], b={"default": 1}))) == 409
    r.apply(r.ops.set_config("nt", CompatibilityLevel.BACKWARD))
    r.register("nt", avro([("a", "string")]))
    r.register("nt", avro([("z", "int")], z={"default": 0}))
    # compared with the latest only, 'a' as an int would be fine under BACKWARD ...
    r.register("nt", avro([("z", "int"), ("a", "int")], z={"default": 0}, a={"default": 0}))
    r.apply(r.ops.set_config("nt", CompatibilityLevel.BACKWARD_TRANSITIVE))
    # ... but v1 wrote 'a' as a string: transitive sees it
    assert code_of(lambda: r.register("nt", avro([("a", "int")], a={"default": 0}))) == 409


def test_soft_and_hard_delete_rules() -> None:
    r = Registry()
    schema_id = r.register("s", avro([("a", "int")]))
    r.register("s", avro([("a", "int"), ("b", "int")], b={"default": 0}))
    assert code_of(lambda: r.ops.delete_version("s", 1, True)) == ErrorCode.SCHEMA_VERSION_NOT_SOFT_DELETED
    assert r.apply(r.ops.delete_version("s", 1, False)) == 1
    assert code_of(lambda: r.ops.delete_version("s", 1, False)) == ErrorCode.SCHEMA_VERSION_SOFT_DELETED
    assert code_of(lambda: r.ops.version("s", 1)) == ErrorCode.VERSION_NOT_FOUND
    assert r.ops.version("s", 1, deleted=True).deleted
    assert r.ops.by_id(schema_id).schema_id == schema_id  # soft-deleted: still served by id
    assert code_of(lambda: r.ops.delete_subject("s", True)) == ErrorCode.SUBJECT_NOT_SOFT_DELETED
    assert r.apply(r.ops.delete_subject("s", False)) == [2]
    assert code_of(lambda: r.ops.delete_subject("s", False)) == ErrorCode.SUBJECT_SOFT_DELETED
    assert r.ops.subjects("", deleted=False, deleted_only=False) == []
    assert r.ops.subjects("", deleted=True, deleted_only=False) == ["s"]
    assert r.apply(r.ops.delete_subject("s", True)) == [1, 2]
    assert code_of(lambda: r.ops.by_id(schema_id)) == ErrorCode.SCHEMA_NOT_FOUND
    # ids are never reused after a hard delete
    assert r.register("s", avro([("other", "int")])) > schema_id + 1


def test_a_referenced_version_cannot_be_deleted() -> None:
    r = Registry()
    r.register("customer", avro([("name", "string")], name="Customer"))
    order = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "c", "type": "Customer"}]})
    order_id = r.register("order", order, references=[{"name": "Customer", "subject": "customer",
                                                       "version": 1}])
    assert r.ops.referenced_by("customer", 1) == [order_id]
    assert code_of(lambda: r.ops.delete_version("customer", 1, False)) == ErrorCode.REFERENCE_EXISTS
    assert code_of(lambda: r.ops.delete_subject("customer", False)) == ErrorCode.REFERENCE_EXISTS
    r.apply(r.ops.delete_subject("order", False))
    assert r.ops.referenced_by("customer", 1) == []
    r.apply(r.ops.delete_version("customer", 1, False))


def test_unknown_reference_and_invalid_schema_are_42201() -> None:
    r = Registry()
    assert code_of(lambda: r.register("x", '{"type": "record"')) == ErrorCode.INVALID_SCHEMA
    assert code_of(lambda: r.register("x", '"int"', references=[{"name": "A", "subject": "nope",
                                                                 "version": 1}])) == ErrorCode.INVALID_SCHEMA


def test_read_only_mode_refuses_writes_and_import_mode_takes_ids() -> None:
    r = Registry()
    r.register("ro", '"int"')
    r.apply(r.ops.set_mode("ro", Mode.READONLY, False))
    assert code_of(lambda: r.register("ro", '"long"')) == ErrorCode.OPERATION_NOT_PERMITTED
    assert code_of(lambda: r.ops.delete_subject("ro", False)) == ErrorCode.OPERATION_NOT_PERMITTED
    assert r.ops.get_mode("ro", False) == {"mode": "READONLY"}
    assert code_of(lambda: r.ops.set_mode(None, Mode.IMPORT, False)) == ErrorCode.OPERATION_NOT_PERMITTED
    r.apply(r.ops.set_mode("imp", Mode.IMPORT, False))
    assert r.register("imp", '"string"', id=500, version=7) == 500
    assert r.ops.version("imp", 7).schema_id == 500
    assert code_of(lambda: r.register("imp", '"boolean"')) == ErrorCode.OPERATION_NOT_PERMITTED  # no id
    assert code_of(lambda: r.register("imp", '"boolean"', id=500)) == ErrorCode.ID_DOES_NOT_MATCH


def test_config_per_subject_falls_back_to_global_only_when_asked() -> None:
    r = Registry()
    r.register("c", '"int"')
    assert r.ops.get_config(None, False) == {"compatibilityLevel": "BACKWARD"}
    assert code_of(lambda: r.ops.get_config("c", False)) == \
        ErrorCode.SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED
    assert r.ops.get_config("c", True) == {"compatibilityLevel": "BACKWARD"}
    assert r.apply(r.ops.set_config("c", CompatibilityLevel.FULL)) == {"compatibility": "FULL"}
    assert r.ops.get_config("c", False) == {"compatibilityLevel": "FULL"}
    assert r.apply(r.ops.delete_config("c")) == {"compatibilityLevel": "FULL"}
    assert r.ops.get_config("c", True) == {"compatibilityLevel": "BACKWARD"}


def test_lookup_finds_the_version_and_normalize_matches_equal_meaning() -> None:
    r = Registry()
    r.register("l", avro([("a", "int")]))
    assert r.ops.lookup("l", request(avro([("a", "int")])), False, False)["version"] == 1
    assert code_of(lambda: r.ops.lookup("l", request('"int"'), False, False)) == ErrorCode.SCHEMA_NOT_FOUND
    assert code_of(lambda: r.ops.lookup("nope", request('"int"'), False, False)) == \
        ErrorCode.SUBJECT_NOT_FOUND


def test_compatibility_endpoint_answers_with_messages_when_verbose() -> None:
    r = Registry()
    r.register("v", avro([("a", "int")]))
    bad = request(avro([("a", "int"), ("b", "int")]))
    assert r.ops.test_compatibility("v", LATEST, bad, False, False) == {"is_compatible": False}
    answer = r.ops.test_compatibility("v", None, bad, False, True)
    assert answer["is_compatible"] is False and any("/fields/1" in m for m in answer["messages"])
    good = request(avro([("a", "long")]))
    assert r.ops.test_compatibility("v", 1, good, False, True) == {"is_compatible": True, "messages": []}
    assert code_of(lambda: r.ops.test_compatibility("v", 9, good, False, False)) == \
        ErrorCode.VERSION_NOT_FOUND


def test_reference_object_is_validated() -> None:
    assert code_of(lambda: request('"int"', references=[{"name": "x"}])) == ErrorCode.INVALID_SCHEMA
    assert code_of(lambda: schema_request({"schema": 5})) == ErrorCode.BAD_REQUEST
    xml = {"schema": '"int"', "schemaType": "XML"}
    assert code_of(lambda: schema_request(xml)) == ErrorCode.INVALID_SCHEMA
    assert request('"int"').references == ()
    assert request('"int"', references=[{"name": "n", "subject": "s", "version": 2}]).references == \
        (Reference("n", "s", 2),)
