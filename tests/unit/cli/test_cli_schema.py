"""``streamlog schema`` and the schema flags of produce/consume, without a broker or a registry.

Flags are judged through ``parse_args``/``main`` (exit codes, one error line); ``check --against``
runs for real on Avro, JSON Schema and Protobuf files (Streamlog's own format modules); the REST
client runs over httpx's MockTransport; the verbose-message parser and the wire-format header reader
are fed literal inputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest

from streamlog.cli import schema_decode, schema_serde
from streamlog.cli.base import CliError
from streamlog.cli.main import main, parse_args
from streamlog.cli.schema_check import Finding, parse_messages, type_of_path
from streamlog.cli.schema_http import Registry, RegistryError, default_registry, registry_of

AVRO_V1 = '{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}'
AVRO_V2_BAD = (
    '{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}'
)
AVRO_V2_OK = (
    '{"type":"record","name":"User","fields":[{"name":"name","type":"string"},'
    '{"name":"age","type":"int","default":0}]}'
)
JSON_V1 = '{"type":"object","properties":{"id":{"type":"integer"}}}'
JSON_V2_BAD = '{"type":"object","properties":{"id":{"type":"string"}}}'
PROTO_V1 = 'syntax = "proto3";\npackage t;\nmessage M { int32 id = 1; }\n'
PROTO_V2_OK = 'syntax = "proto3";\npackage t;\nmessage M { int32 id = 1; string note = 2; }\n'
PROTO_V2_BAD = 'syntax = "proto3";\npackage t;\nmessage M { string id = 1; }\n'


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("streamlog: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


# --- argument parsing -----------------------------------------------------------------------------


def test_register_flags_parse() -> None:
    args = parse_args(
        [
            "schema",
            "register",
            "s",
            "x.proto",
            "--reference",
            "dep.proto=dep-value:3",
            "--reference",
            "b.avsc=b",
            "--normalize",
            "--registry",
            "http://r:1",
        ]
    )
    assert args.schema_command == "register" and args.subject == "s" and args.normalize
    assert args.references == [
        {"name": "dep.proto", "subject": "dep-value", "version": 3},
        {"name": "b.avsc", "subject": "b", "version": -1},
    ]
    assert registry_of(args) == "http://r:1"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["schema", "get"], "give a SUBJECT or --id N"),
        (["schema", "get", "s", "--id", "3"], "either SUBJECT or --id"),
        (["schema", "check", "s", "f.avsc", "--level", "FULL"], "--level applies to --against only"),
        (["schema", "check", "s", "f.avsc", "--against", "o.avsc", "--version", "1"], "--version names"),
        (["schema", "list", "s", "--prefix", "x"], "--prefix"),
        (["produce", "t", "--value-schema", "f.avsc"], "--value-schema needs --value-format"),
        (
            ["produce", "t", "--value-format", "avro", "--value-schema", "f", "--value-schema-id", "2"],
            "not both",
        ),
        (["produce", "t", "--key-format", "avro"], "--key-format needs --key-separator"),
        (["produce", "t", "--value-format", "avro", "--value-message", "M"], "protobuf only"),
    ],
)
def test_bad_flag_combinations_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert fragment in one_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["schema", "config", "--set", "SIDEWAYS"],
        ["schema", "get", "s", "--version", "0"],
        ["schema", "register", "s", "f", "--reference", "noequals"],
        ["schema", "register", "s", "f", "--type", "xml"],
        ["consume", "t", "--value-format", "thrift"],
    ],
)
def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and "error:" in err


def test_config_level_is_case_insensitive() -> None:
    assert parse_args(["schema", "config", "s", "--set", "full_transitive"]).level == "FULL_TRANSITIVE"


def test_default_registry_from_environment() -> None:
    assert default_registry({}) == "http://localhost:8081"
    assert default_registry({"STREAMLOG_REGISTRY": " http://reg:9 "}) == "http://reg:9"
    assert registry_of(argparse.Namespace(registry="reg:1/")) == "http://reg:1"


@pytest.mark.parametrize(
    "path, explicit, expected",
    [
        ("a.avsc", None, "AVRO"),
        ("a.proto", None, "PROTOBUF"),
        ("a.JSON", None, "JSON"),
        ("schema.txt", None, "AVRO"),
        ("a.json", "protobuf", "PROTOBUF"),
    ],
)
def test_type_from_extension(path: str, explicit: str | None, expected: str) -> None:
    assert type_of_path(path, explicit) == expected


# --- offline check --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext, old, ok, bad, error_type",
    [
        ("avsc", AVRO_V1, AVRO_V2_OK, AVRO_V2_BAD, "READER_FIELD_MISSING_DEFAULT_VALUE"),
        (
            "json",
            JSON_V1,
            JSON_V1.replace('"integer"', '"integer","description":"the id"'),
            JSON_V2_BAD,
            "TYPE_CHANGED",
        ),
        ("proto", PROTO_V1, PROTO_V2_OK, PROTO_V2_BAD, "FIELD_SCALAR_KIND_CHANGED"),
    ],
)
def test_offline_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ext: str, old: str, ok: str, bad: str, error_type: str
) -> None:
    old_path = write(tmp_path, f"v1.{ext}", old)
    code, out, err = run(
        capsys, "schema", "check", "s", write(tmp_path, f"ok.{ext}", ok), "--against", old_path
    )
    assert (code, err) == (0, "")
    assert out.startswith("compatible:")
    code, out, err = run(
        capsys, "schema", "check", "s", write(tmp_path, f"bad.{ext}", bad), "--against", old_path
    )
    assert code == 1
    assert error_type in out and "v1." + ext in out
    assert "1 breaking change" in one_error(err) or "breaking changes" in one_error(err)


def test_offline_check_uses_level_and_every_file_when_transitive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def findings(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.startswith("  against ")]

    v1 = write(tmp_path, "v1.avsc", AVRO_V1)
    v2 = write(tmp_path, "v2.avsc", AVRO_V2_BAD)  # 'age' without a default
    new = write(tmp_path, "v3.avsc", AVRO_V1)  # drops 'age' again: fine backward, breaks forward vs v2
    code, _, _ = run(capsys, "schema", "check", "s", new, "--against", v1, v2)
    assert code == 0
    code, out, _ = run(capsys, "schema", "check", "s", new, "--against", v1, v2, "--level", "FORWARD")
    assert code == 1
    assert len(findings(out)) == 1 and "v2.avsc (forward)" in findings(out)[0]
    # BACKWARD only looks at the newest file; BACKWARD_TRANSITIVE at all of them.
    bad = write(tmp_path, "bad.avsc", AVRO_V2_BAD)
    assert run(capsys, "schema", "check", "s", bad, "--against", v1, v2)[0] == 0
    code, out, _ = run(
        capsys, "schema", "check", "s", bad, "--against", v1, v2, "--level", "BACKWARD_TRANSITIVE"
    )
    assert code == 1
    assert len(findings(out)) == 1 and "v1.avsc (backward)" in findings(out)[0]


def test_offline_check_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = write(tmp_path, "new.avsc", AVRO_V1)
    code, _, err = run(capsys, "schema", "check", "s", new, "--against", str(tmp_path / "gone.avsc"))
    assert code == 2
    assert "gone.avsc: no such file" in one_error(err)


@pytest.mark.parametrize(
    "ext, text",
    [("avsc", '{"type": "record", "name": "X"'), ("proto", "message {"), ("json", '{"type": 12}')],
)
def test_offline_check_invalid_schema_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ext: str, text: str
) -> None:
    old = write(tmp_path, f"old.{ext}", {"avsc": AVRO_V1, "proto": PROTO_V1, "json": JSON_V1}[ext])
    code, out, err = run(
        capsys, "schema", "check", "s", write(tmp_path, f"broken.{ext}", text), "--against", old
    )
    assert code == 1 and out == ""
    assert "broken." + ext in one_error(err) and "invalid" in one_error(err)


# --- verbose messages from a registry -------------------------------------------------------------


def test_parse_verbose_messages() -> None:
    messages = [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' has no default', "
        "additionalInfo:'/fields/1'}",
        "{oldSchemaVersion: 2}",
        '{oldSchema: \'{"type":"record"}\'}',
        "{compatibility: 'BACKWARD_TRANSITIVE'}",
        "{errorType:'TYPE_MISMATCH', description:'x changed', additionalInfo:'/fields/0'}",
        "{oldSchemaVersion: 1}",
        "something unexpected",
    ]
    assert parse_messages(messages) == [
        Finding(
            "READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1", "The field 'age' has no default", "version 2"
        ),
        Finding("TYPE_MISMATCH", "/fields/0", "x changed", "version 1"),
        Finding("INCOMPATIBLE", "", "something unexpected"),
    ]
    assert Finding("T", "/a", "d", "version 1").line() == "  against version 1: T at /a: d"


# --- the REST client ------------------------------------------------------------------------------


def test_registry_error_body_and_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/subjects/a/versions":
            return httpx.Response(200, json=[1, 2])
        return httpx.Response(404, json={"error_code": 40401, "message": "Subject 'x' not found."})

    with Registry("http://reg", httpx.MockTransport(handler)) as registry:
        assert registry.call("GET", "/subjects/a/versions") == [1, 2]
        with pytest.raises(RegistryError) as caught:
            registry.call("GET", "/subjects/x/versions")
    assert (caught.value.status, caught.value.code) == (404, 40401)
    assert caught.value.cli("ctx").message == "ctx: Subject 'x' not found."


def test_registry_unreachable_and_not_a_registry() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with Registry("http://reg", httpx.MockTransport(refuse)) as registry, pytest.raises(CliError) as caught:
        registry.call("GET", "/subjects")
    assert caught.value.message == "cannot reach the schema registry at http://reg (Connection refused)"

    with Registry(
        "http://reg", httpx.MockTransport(lambda _r: httpx.Response(502, text="<html>"))
    ) as registry, pytest.raises(CliError, match="answered HTTP 502"):
        registry.call("GET", "/subjects")


def test_check_against_unreachable_registry_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "schema", "check", "s", write(tmp_path, "a.avsc", AVRO_V1), "--registry", "http://127.0.0.1:1"
    )
    assert code == 1
    assert "cannot reach the schema registry at http://127.0.0.1:1" in one_error(err)


# --- wire format ----------------------------------------------------------------------------------


def test_wire_header_and_message_indexes() -> None:
    assert schema_decode.wire_header(b"\x00\x00\x00\x01\x02rest") == (258, 5)
    with pytest.raises(ValueError, match="wire format"):
        schema_decode.wire_header(b"plain text")
    assert schema_decode.message_indexes(b"\x00", 0) == [0]
    assert schema_decode.message_indexes(b"\x04\x02\x06", 0) == [1, 3]  # zigzag: count 2, then 1, 3
    with pytest.raises(ValueError, match="truncated"):
        schema_decode.message_indexes(b"\x04\x02", 0)


def test_protobuf_message_class_by_name_and_index() -> None:
    from streamlog.registry.formats import protobuf

    parsed = protobuf.parse(
        'syntax = "proto3"; package p; message A { int32 x = 1; message In { string s = 1; } }'
        " message B { string y = 1; }",
        (),
    )
    assert schema_serde.message_class(parsed).DESCRIPTOR.full_name == "p.A"
    assert schema_serde.message_class(parsed, "B").DESCRIPTOR.full_name == "p.B"
    assert schema_serde.message_class(parsed, index_path=[0, 0]).DESCRIPTOR.full_name == "p.A.In"
    with pytest.raises(CliError, match="no message 'C'"):
        schema_serde.message_class(parsed, "C")


def test_json_output_of_decoded_values() -> None:
    import decimal

    assert (
        schema_decode.to_json({"b": b"\x01", "d": decimal.Decimal("1.50"), "s": "é"})
        == '{"b": "AQ==", "d": "1.50", "s": "é"}'.encode()
    )
