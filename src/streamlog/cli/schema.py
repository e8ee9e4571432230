"""``streamlog schema``: a schema registry from the shell and from CI.

Theory of operation: each subcommand is one or two REST calls (schema_http.Registry) to a registry
speaking Confluent's API, printing a plain answer on stdout (an id, a schema, one name per line, a
level) so scripts can use it, or ``--output json`` for the registry's own record.  Errors the registry
words (unknown subject, 42201 invalid schema, ...) become one ``streamlog: error:`` line and exit 1;
bad flags exit 2.

``check`` is the CI gate.  Against the registry it asks ``POST /compatibility/...?verbose=true``
(every version the subject's level names, or ``--version N``); offline, ``--against OLD...`` judges
local files with Streamlog's own format and compatibility modules, no registry involved.  Either way
each breaking change is printed on stdout (schema_check.Finding.line) and the command exits 1 with a
one-line summary on stderr; compatible exits 0.  A subject with no versions yet is compatible
(nothing to break), and the command says so.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.cli.profiles import add_profile_argument
from streamlog.cli.schema_check import offline, parse_messages, read_schema_file, report, type_of_path
from streamlog.cli.schema_http import (
    SUBJECT_NOT_FOUND,
    SUBJECT_NOT_SOFT_DELETED,
    VERSION_NOT_FOUND,
    VERSION_NOT_SOFT_DELETED,
    Registry,
    RegistryError,
    add_registry_argument,
    path_part,
    registry_of,
)

TYPES: Final = ("avro", "json", "protobuf")
LEVELS: Final = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                 "FULL_TRANSITIVE")


def _version_type(text: str) -> str:
    if text == "latest":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a version number or 'latest', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a version number of 1 or more, got {value}")
    return str(value)


def _id_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a schema id, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a schema id of 1 or more, got {value}")
    return value


def _level_type(text: str) -> str:
    level = text.strip().upper()
    if level not in LEVELS:
        raise argparse.ArgumentTypeError(f"unknown compatibility level {text!r} (known: {', '.join(LEVELS)})")
    return level


def _reference_type(text: str) -> dict[str, Any]:
    """``NAME=SUBJECT:VERSION`` (the version may be 'latest' or omitted: the latest)."""
    name, sep, target = text.partition("=")
    subject, colon, version = target.rpartition(":")
    if not colon:
        subject, version = target, "latest"
    if not sep or not name or not subject:
        raise argparse.ArgumentTypeError(f"expected NAME=SUBJECT:VERSION, got {text!r}")
    if version == "latest":
        return {"name": name, "subject": subject, "version": -1}
    try:
        number = int(version)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=SUBJECT:VERSION, got {text!r}") from None
    return {"name": name, "subject": subject, "version": number}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schema", help="register, inspect and check schemas in a schema registry",
        description="Work with a Confluent-compatible schema registry (Streamlog's or any other).")
    commands = parser.add_subparsers(dest="schema_command", metavar="SUBCOMMAND", required=True)

    register = commands.add_parser(
        "register", help="register a schema file under a subject; prints its id",
        epilog="examples:\n"
               "  streamlog schema register orders-value order.avsc\n"
               "  streamlog schema register orders-value order.proto --reference common.proto=common:1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    register.add_argument("subject", metavar="SUBJECT")
    register.add_argument("file", metavar="FILE")
    _type_argument(register)
    register.add_argument("--reference", dest="references", metavar="NAME=SUBJECT:VERSION",
                          type=_reference_type, action="append", default=[],
                          help="a schema this one references (repeatable)")
    register.add_argument("--normalize", action="store_true", help="normalize the schema before registering")
    _common(register, run_register)

    get = commands.add_parser(
        "get", help="print a subject's schema version, or a schema by id",
        epilog="examples:\n"
               "  streamlog schema get orders-value\n"
               "  streamlog schema get orders-value --version 2 --output json\n"
               "  streamlog schema get --id 7",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    get.add_argument("subject", metavar="SUBJECT", nargs="?")
    get.add_argument("--version", type=_version_type, default="latest", metavar="N|latest",
                     help="version to print (default latest)")
    get.add_argument("--id", dest="schema_id", type=_id_type, metavar="N", help="print the schema with id N")
    get.add_argument("--output", choices=("schema", "json"), default="schema",
                     help="the schema text (default), or the registry's whole record as JSON")
    _common(get, run_get, _validate_get)

    listing = commands.add_parser(
        "list", help="list subjects, or one subject's versions",
        epilog="examples:\n"
               "  streamlog schema list --prefix orders- --deleted\n"
               "  streamlog schema list orders-value           # its versions",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("subject", metavar="SUBJECT", nargs="?")
    listing.add_argument("--prefix", metavar="P", help="only subjects starting with P")
    listing.add_argument("--deleted", action="store_true", help="include soft-deleted subjects or versions")
    _common(listing, run_list, _validate_list)

    delete = commands.add_parser(
        "delete", help="delete a subject, or one version of it",
        epilog="examples:\n"
               "  streamlog schema delete orders-value --version 3\n"
               "  streamlog schema delete orders-value --permanent",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    delete.add_argument("subject", metavar="SUBJECT")
    delete.add_argument("--version", type=_version_type, metavar="N|latest", help="delete only this version")
    delete.add_argument("--permanent", action="store_true",
                        help="delete for good (soft-deleting first when needed), freeing the version numbers")
    _common(delete, run_delete)

    config = commands.add_parser(
        "config", help="show or set the compatibility level (global or a subject's)",
        epilog="examples:\n"
               "  streamlog schema config                      # the global level\n"
               "  streamlog schema config orders-value --set FULL_TRANSITIVE",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    config.add_argument("subject", metavar="SUBJECT", nargs="?")
    config.add_argument("--set", dest="level", type=_level_type, metavar="LEVEL",
                        help=f"set the level ({', '.join(LEVELS)})")
    _common(config, run_config)

    check = commands.add_parser(
        "check", help="check a schema file's compatibility (exit 0 compatible, 1 not)",
        description="Check FILE against SUBJECT's versions in the registry under the subject's level, or\n"
                    "offline against local files with --against. Exit 0 when compatible, 1 when not\n"
                    "(each breaking change printed), 2 on a usage error.",
        epilog="examples:\n"
               "  streamlog schema check orders-value order.avsc\n"
               "  streamlog schema check orders-value order.avsc --against v1.avsc v2.avsc --level FULL",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("subject", metavar="SUBJECT")
    check.add_argument("file", metavar="FILE")
    _type_argument(check)
    check.add_argument("--version", type=_version_type, metavar="N|latest",
                       help="check against this version only (default: every version the level names)")
    check.add_argument("--against", nargs="+", metavar="OLD", help=(
        "check offline against these schema files (oldest first) instead of the registry"))
    check.add_argument("--level", type=_level_type, metavar="LEVEL",
                       help="compatibility level for --against (default BACKWARD)")
    _common(check, run_check, _validate_check)


def _type_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", dest="schema_type", choices=TYPES, default=None,
                        help="schema type (default: by extension: .proto protobuf, .json json, else avro)")


def _common(parser: argparse.ArgumentParser, handler: Any, validate: Any = None) -> None:
    add_registry_argument(parser)
    add_profile_argument(parser)
    parser.set_defaults(handler=handler, validate=validate)


def _validate_get(args: argparse.Namespace) -> str | None:
    if args.schema_id is not None and args.subject is not None:
        return "give either SUBJECT or --id, not both"
    if args.schema_id is None and args.subject is None:
        return "give a SUBJECT or --id N"
    return None


def _validate_list(args: argparse.Namespace) -> str | None:
    if args.subject is not None and args.prefix is not None:
        return "--prefix lists subjects; it cannot be combined with SUBJECT"
    return None


def _validate_check(args: argparse.Namespace) -> str | None:
    if args.against is not None and args.version is not None:
        return "--version names a registry version; it cannot be combined with --against"
    if args.level is not None and args.against is None:
        return "--level applies to --against only (the registry uses the subject's own level)"
    return None


def _schema_body(path: str, explicit_type: str | None, references: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": read_schema_file(path)}
    schema_type = type_of_path(path, explicit_type)
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    if references:
        body["references"] = references
    return body


def _registry(args: argparse.Namespace) -> Registry:
    return Registry(registry_of(args))


def _resolve_references(registry: Registry, references: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``SUBJECT:latest`` references pinned to the latest version number (the API wants a number)."""
    out = []
    for ref in references:
        if ref["version"] == -1:
            try:
                found = registry.call("GET", f"/subjects/{path_part(ref['subject'])}/versions/latest")
            except RegistryError as exc:
                raise exc.cli(f"reference {ref['name']}") from None
            ref = {**ref, "version": int(found["version"])}
        out.append(ref)
    return out


def run_register(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        references = _resolve_references(registry, args.references)
        body = _schema_body(args.file, args.schema_type, references)
        params = {"normalize": "true"} if args.normalize else {}
        try:
            answer = registry.call("POST", f"/subjects/{path_part(args.subject)}/versions", body, params)
        except RegistryError as exc:
            raise exc.cli(f"cannot register {args.file} under {args.subject}") from None
    print(answer["id"])
    return 0


def run_get(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        try:
            if args.schema_id is not None:
                answer = registry.call("GET", f"/schemas/ids/{args.schema_id}")
                answer = {"id": args.schema_id, **answer}
            else:
                answer = registry.call("GET", f"/subjects/{path_part(args.subject)}/versions/{args.version}")
        except RegistryError as exc:
            raise exc.cli() from None
    if args.output == "json":
        print(json.dumps(answer, indent=2))
    else:
        print(_pretty_schema(str(answer["schema"]), str(answer.get("schemaType", "AVRO"))))
    return 0


def _pretty_schema(text: str, schema_type: str) -> str:
    """JSON schemas (Avro, JSON Schema) indented for reading; Protobuf as the registry has it."""
    if schema_type == "PROTOBUF":
        return text.rstrip("\n")
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def run_list(args: argparse.Namespace) -> int:
    params = {"deleted": "true"} if args.deleted else {}
    with _registry(args) as registry:
        try:
            if args.subject is not None:
                found = registry.call("GET", f"/subjects/{path_part(args.subject)}/versions", params=params)
            else:
                if args.prefix:
                    params["subjectPrefix"] = args.prefix
                found = registry.call("GET", "/subjects", params=params)
        except RegistryError as exc:
            raise exc.cli() from None
    for item in found:
        print(item)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    path = f"/subjects/{path_part(args.subject)}"
    if args.version is not None:
        path += f"/versions/{args.version}"
    with _registry(args) as registry:
        try:
            answer = _delete_permanently(registry, path) if args.permanent else registry.call("DELETE", path)
        except RegistryError as exc:
            raise exc.cli() from None
    versions = answer if isinstance(answer, list) else [answer]
    how = "permanently deleted" if args.permanent else "deleted"
    plural = "s" if len(versions) != 1 else ""
    print(f"{how} {args.subject} version{plural} {', '.join(str(v) for v in versions)}")
    return 0


def _delete_permanently(registry: Registry, path: str) -> Any:
    """A hard delete, soft-deleting first when the registry insists (Confluent's two-step rule)."""
    try:
        return registry.call("DELETE", path, params={"permanent": "true"})
    except RegistryError as exc:
        if exc.code not in (SUBJECT_NOT_SOFT_DELETED, VERSION_NOT_SOFT_DELETED):
            raise
    soft = registry.call("DELETE", path)
    if path.endswith("/latest"):  # "latest" moves once the latest is soft-deleted: name it by number
        path = path.rsplit("/", 1)[0] + f"/{int(soft)}"
    return registry.call("DELETE", path, params={"permanent": "true"})


def run_config(args: argparse.Namespace) -> int:
    path = "/config" if args.subject is None else f"/config/{path_part(args.subject)}"
    with _registry(args) as registry:
        try:
            if args.level is not None:
                answer = registry.call("PUT", path, {"compatibility": args.level})
                print(answer.get("compatibility", args.level))
                return 0
            params = {} if args.subject is None else {"defaultToGlobal": "true"}
            answer = registry.call("GET", path, params=params)
        except RegistryError as exc:
            raise exc.cli() from None
    print(answer.get("compatibilityLevel") or answer.get("compatibility"))
    return 0


def run_check(args: argparse.Namespace) -> int:
    if args.against is not None:
        schema_type = type_of_path(args.file, args.schema_type)
        level = args.level or "BACKWARD"
        findings = offline(args.file, args.against, schema_type, level)
        if not findings:
            print(f"compatible: {args.file} ({level}, against {len(args.against)} file"
                  f"{'' if len(args.against) == 1 else 's'})")
            return 0
        return _incompatible(args.file, f"{', '.join(args.against)} under {level}", report(findings))
    with _registry(args) as registry:
        return _check_registry(registry, args)


def _check_registry(registry: Registry, args: argparse.Namespace) -> int:
    body = _schema_body(args.file, args.schema_type)
    subject = path_part(args.subject)
    path = f"/compatibility/subjects/{subject}/versions"
    if args.version is not None:
        path += f"/{args.version}"
    try:
        answer = registry.call("POST", path, body, {"verbose": "true"})
    except RegistryError as exc:
        if exc.code == SUBJECT_NOT_FOUND or (exc.code == VERSION_NOT_FOUND and args.version == "latest"):
            return _new_subject(args)
        raise exc.cli(f"cannot check {args.file}") from None
    if answer.get("is_compatible"):
        if args.version is None and not _has_versions(registry, subject):
            return _new_subject(args)
        against = f"version {args.version}" if args.version is not None else "the versions its level names"
        print(f"compatible: {args.file} with {args.subject} ({against})")
        return 0
    findings = parse_messages(answer.get("messages") or [])
    lines = report(findings) or ["  (the registry gave no details)"]
    return _incompatible(args.file, f"subject {args.subject}", lines)


def _has_versions(registry: Registry, subject: str) -> bool:
    try:
        return bool(registry.call("GET", f"/subjects/{subject}/versions"))
    except RegistryError as exc:
        if exc.code == SUBJECT_NOT_FOUND:
            return False
        raise exc.cli() from None


def _new_subject(args: argparse.Namespace) -> int:
    print(f"compatible: subject {args.subject} has no schema yet, so {args.file} has nothing to break")
    return 0


def _incompatible(path: str, against: str, lines: list[str]) -> int:
    count = len(lines)
    print(f"incompatible: {path} ({against}):")
    for line in lines:
        print(line)
    plural = "" if count == 1 else "s"
    raise CliError(f"{path} is not compatible with {against}: {count} breaking change{plural}")
