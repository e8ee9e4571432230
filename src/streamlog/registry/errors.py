"""The registry's errors, with Confluent Schema Registry's error codes and messages.

Every error answers with the body ``{"error_code": CODE, "message": TEXT}``.  The HTTP status is
the first three digits of the code (40401 -> 404), except the bare codes 409, 422 and 500, which
are their own status.  Messages follow Confluent's wording, since clients and test suites match on
them (e.g. ``Subject 'x' not found.``).
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_SOFT_DELETED = 40404
    SUBJECT_NOT_SOFT_DELETED = 40405
    SCHEMA_VERSION_SOFT_DELETED = 40406
    SCHEMA_VERSION_NOT_SOFT_DELETED = 40407
    SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED = 40408
    SUBJECT_LEVEL_MODE_NOT_CONFIGURED = 40409
    BAD_REQUEST = 400
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    NOT_ACCEPTABLE = 406
    INCOMPATIBLE_SCHEMA = 409
    REQUEST_TOO_LARGE = 413
    UNSUPPORTED_MEDIA_TYPE = 415
    UNPROCESSABLE_ENTITY = 422
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY_LEVEL = 42203
    INVALID_MODE = 42204
    OPERATION_NOT_PERMITTED = 42205
    REFERENCE_EXISTS = 42206
    ID_DOES_NOT_MATCH = 42207
    INVALID_SUBJECT = 42208
    SCHEMA_TOO_LARGE = 42209
    INVALID_RULESET = 42210
    INTERNAL_SERVER_ERROR = 500
    STORE_ERROR = 50001
    OPERATION_TIMEOUT = 50002
    REQUEST_FORWARDING_FAILED = 50003
    UNKNOWN_LEADER = 50004
    JSON_PARSE_ERROR = 50005

    @property
    def http_status(self) -> int:
        return self.value if self.value < 1000 else self.value // 100


class RegistryError(Exception):
    """An answer other than success: a code from `ErrorCode` and Confluent's message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error_code": int(self.code), "message": self.message}


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(ErrorCode.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(version: object) -> RegistryError:
    return RegistryError(ErrorCode.VERSION_NOT_FOUND, f"Version {version} not found.")


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return RegistryError(ErrorCode.SCHEMA_NOT_FOUND, detail)


def invalid_version(version: str) -> RegistryError:
    return RegistryError(
        ErrorCode.INVALID_VERSION,
        f"The specified version '{version}' is not a valid version id. Allowed values are between "
        "[1, 2^31-1] and the string \"latest\"",
    )


def invalid_schema(message: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_SCHEMA, message)


def invalid_compatibility_level(level: object) -> RegistryError:
    return RegistryError(
        ErrorCode.INVALID_COMPATIBILITY_LEVEL,
        f"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, "
        f"forward_transitive, and full_transitive (got {level!r})",
    )


def invalid_mode(mode: object) -> RegistryError:
    return RegistryError(
        ErrorCode.INVALID_MODE,
        f"Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT (got {mode!r})",
    )


def not_permitted(message: str) -> RegistryError:
    return RegistryError(ErrorCode.OPERATION_NOT_PERMITTED, message)
