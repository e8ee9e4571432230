"""Protobuf schema text (and its references) to descriptors, with the real `protoc`.

Theory of operation: the registry hands us a schema and the tree of its references.  We lay them out
as files in a private temporary directory, each reference at its import path (`ResolvedReference.name`,
e.g. `com/acme/customer.proto`), and run the `protoc` that grpcio-tools links into the process:

    protoc -I<tmp>/src --descriptor_set_in=<tmp>/given.pb:<builtins.pb>
           --descriptor_set_out=<tmp>/out.pb --include_imports schema.proto

and read back a `FileDescriptorSet`: the schema's `FileDescriptorProto` and those of everything it
imports, dependencies first.  A schema or reference may also arrive as base64 of a serialized
`FileDescriptorProto`: that is what confluent-kafka-python's `ProtobufSerializer` registers.  Those go
into `given.pb` (protoc resolves imports from it); a base64 *schema* is compiled by importing it from a
one-line stub file, so protoc still cross-links and validates it.

Imports nobody sends: clients skip "known types" when they register references (confluent-kafka's
`_is_builtin`: `google/protobuf/`, `google/type/`, `confluent/`).  `google/protobuf/*.proto` (grpc_tools'
bundled include directory) and `confluent/meta.proto`, `confluent/type/decimal.proto` (the texts below:
their definitions as Confluent's clients publish them) are compiled once per process into `builtins.pb`,
which protoc reads far faster than it would parse `descriptor.proto` again.  `google/type/*` is not
bundled: a schema importing it must send it as a reference.

protoc writes its diagnostics to file descriptor 2 from C++, so the run redirects fd 2 into a temporary
file under a process-wide lock (fd 2 is shared by every thread) and turns a failure into `InvalidSchema`
carrying protoc's own `file:line:col: message` lines, with the temporary directory taken out.  In
process a compile takes about a millisecond; callers cache by (text, references) on top.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import functools
import importlib.resources
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from grpc_tools import protoc

from streamlog.registry.formats.base import InvalidSchema, ResolvedReference

MAIN_FILE = "schema.proto"
_STUB_FILE = "streamlog_stub.proto"

BUILTIN_TEXTS: dict[str, str] = {
    "confluent/meta.proto": """syntax = "proto3";
package confluent;

import "google/protobuf/descriptor.proto";

option go_package = "../confluent";

message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
  repeated Rule rules = 4;
}

message Rule {
  string name = 1;
  string doc = 2;
  string expr = 3;
  string sql = 4;
}

extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
""",
    "confluent/type/decimal.proto": """syntax = "proto3";
package confluent.type;

message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
""",
}

_LOCK = threading.Lock()
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")


def _wkt_include() -> str:
    return str(importlib.resources.files("grpc_tools") / "_proto")


def decode_descriptor(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """The `FileDescriptorProto` if `text` is base64 of one, else None (then it is .proto source)."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
        return descriptor_pb2.FileDescriptorProto.FromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        return None


def _flatten(references: Iterable[ResolvedReference], into: dict[str, str]) -> None:
    """Every reference of the tree by import path; one path must always mean one text."""
    for ref in references:
        seen = into.get(ref.name)
        if seen is not None and seen != ref.text:
            raise InvalidSchema(f"Two different schemas are referenced under the import path {ref.name!r}")
        into[ref.name] = ref.text
        _flatten(ref.references, into)


def _safe_path(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if name.startswith("/") or not target.is_relative_to(root.resolve()) or not name.endswith(".proto"):
        raise InvalidSchema(f"Invalid Protobuf import path {name!r} in references")
    return target


def compile_schema(
    text: str, references: Sequence[ResolvedReference]
) -> tuple[descriptor_pb2.FileDescriptorProto, tuple[descriptor_pb2.FileDescriptorProto, ...]]:
    """The schema's descriptor and its transitive imports, dependencies first.

    The schema's file is named `MAIN_FILE` (with `_` prefixes while a reference has that name).
    """
    refs: dict[str, str] = {}
    _flatten(references, refs)
    main_name = MAIN_FILE
    while main_name in refs:
        main_name = "_" + main_name
    with tempfile.TemporaryDirectory(prefix="streamlog-proto-") as tmp:
        root = Path(tmp) / "src"
        given = descriptor_pb2.FileDescriptorSet()
        for name, ref_text in refs.items():
            decoded = decode_descriptor(ref_text)
            if decoded is not None:
                decoded.name = name
                given.file.append(decoded)
            else:
                path = _safe_path(root, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(ref_text, encoding="utf-8")
        decoded_main = decode_descriptor(text)
        target = main_name
        if decoded_main is not None:
            decoded_main.name = main_name
            given.file.append(decoded_main)
            target = _STUB_FILE
            stub = f'syntax = "proto3";\nimport "{main_name}";\n'
            _safe_path(root, target).parent.mkdir(parents=True, exist_ok=True)
            (root / target).write_text(stub, encoding="utf-8")
        else:
            root.mkdir(parents=True, exist_ok=True)
            (root / main_name).write_text(text, encoding="utf-8")
        args = ["protoc", f"-I{root}"]
        sets = [_builtin_set()]
        if given.file:
            given_path = Path(tmp) / "given.pb"
            given_path.write_bytes(given.SerializeToString())
            sets.insert(0, str(given_path))
        args.append(f"--descriptor_set_in={os.pathsep.join(sets)}")
        out = Path(tmp) / "out.pb"
        args += [f"--descriptor_set_out={out}", "--include_imports", target]
        code, errors = _run_protoc(args)
        if code != 0:
            message = errors.replace(f"{root}/", "").replace(f"{tmp}/", "").strip()
            raise InvalidSchema(message or f"protoc failed (exit status {code})")
        result = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    files = [f for f in result.file if f.name != _STUB_FILE]
    main = next(f for f in files if f.name == main_name)
    return main, tuple(f for f in files if f is not main)


@functools.cache
def _builtin_set() -> str:
    """A file holding the compiled builtins (well-known types, Confluent's), made once per process.

    protoc reads imports from a descriptor set far faster than it parses `descriptor.proto` again.
    """
    tmp = tempfile.mkdtemp(prefix="streamlog-proto-builtins-")
    atexit.register(shutil.rmtree, tmp, True)
    src = Path(tmp) / "src"
    for name, builtin_text in BUILTIN_TEXTS.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(builtin_text, encoding="utf-8")
    wkt = Path(_wkt_include())
    names = sorted(str(p.relative_to(wkt)) for p in (wkt / "google" / "protobuf").glob("*.proto"))
    out = Path(tmp) / "builtins.pb"
    code, errors = _run_protoc(["protoc", f"-I{src}", f"-I{wkt}", f"--descriptor_set_out={out}",
                                "--include_imports", *names, *BUILTIN_TEXTS])
    if code != 0:  # pragma: no cover - the bundled files always compile
        raise RuntimeError(f"cannot compile the bundled Protobuf files: {errors}")
    return str(out)


def _run_protoc(args: list[str]) -> tuple[int, str]:
    """Runs protoc in process with fd 2 captured; returns (exit status, what it wrote to stderr)."""
    with _LOCK, tempfile.TemporaryFile() as err:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(err.fileno(), 2)
            code = int(protoc.main(args))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return code, err.read().decode("utf-8", errors="replace")
