"""Every API we can decode, by key, and the request/response helpers built on the codec.

Theory of operation: the message modules in ``messages/`` each declare one or more ``ApiSpec``
constants; this module gathers them into ``SPECS``.  The broker decides which of them to advertise
(those with a handler).  ``decode_request`` turns a frame into a header and a body dict;
``encode_response`` turns a body dict into a complete, size-prefixed response frame with the right
header version (ApiVersions always uses header v0); ``encode_response_frame`` does the same without
copying large record sets (``gather``).
"""

from __future__ import annotations

from typing import Final

from streamlog.protocol.codec import Decoder, Encoder, Msg, build_decoder, build_encoder
from streamlog.protocol.gather import Frame, GatherBuffer
from streamlog.protocol.headers import (
    RequestHeader,
    decode_request_header,
    encode_response_header,
    response_header_flexible,
)
from streamlog.protocol.messages.api_versions import API_VERSIONS
from streamlog.protocol.schema import ApiSpec

_ALL: list[ApiSpec] = [API_VERSIONS]


def _optional(module: str, *names: str) -> None:
    """Import declarations that may not exist yet while the tree is being built."""
    import importlib

    try:
        mod = importlib.import_module(f"streamlog.protocol.messages.{module}")
    except ModuleNotFoundError:
        return
    for name in names:
        spec = getattr(mod, name, None)
        if isinstance(spec, ApiSpec):
            _ALL.append(spec)


_optional("produce", "PRODUCE")
_optional("fetch", "FETCH")
_optional("list_offsets", "LIST_OFFSETS")
_optional("metadata", "METADATA")
_optional("offset_for_leader_epoch", "OFFSET_FOR_LEADER_EPOCH")
_optional("topics", "CREATE_TOPICS", "DELETE_TOPICS", "CREATE_PARTITIONS", "DELETE_RECORDS")
_optional("configs", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "INCREMENTAL_ALTER_CONFIGS")
_optional("cluster", "DESCRIBE_CLUSTER", "DESCRIBE_LOG_DIRS", "DESCRIBE_CLIENT_QUOTAS", "DESCRIBE_ACLS")
_optional("partitions", "ELECT_LEADERS", "ALTER_REPLICA_LOG_DIRS", "ALTER_PARTITION_REASSIGNMENTS",
          "LIST_PARTITION_REASSIGNMENTS", "DESCRIBE_TOPIC_PARTITIONS")
_optional("groups", "FIND_COORDINATOR", "JOIN_GROUP", "HEARTBEAT", "LEAVE_GROUP", "SYNC_GROUP",
          "DESCRIBE_GROUPS", "LIST_GROUPS", "DELETE_GROUPS")
_optional("offsets", "OFFSET_COMMIT", "OFFSET_FETCH", "OFFSET_DELETE")
_optional("consumer_groups", "CONSUMER_GROUP_HEARTBEAT", "CONSUMER_GROUP_DESCRIBE")
_optional("txn", "INIT_PRODUCER_ID", "ADD_PARTITIONS_TO_TXN", "ADD_OFFSETS_TO_TXN", "END_TXN",
          "TXN_OFFSET_COMMIT", "DESCRIBE_PRODUCERS", "DESCRIBE_TRANSACTIONS", "LIST_TRANSACTIONS")

SPECS: Final[dict[int, ApiSpec]] = {spec.key: spec for spec in _ALL}


class UnsupportedVersion(Exception):
    """The API key is unknown or the version is outside what we serve."""

    def __init__(self, header: RequestHeader) -> None:
        super().__init__(f"api {header.api_key} v{header.api_version} not supported")
        self.header = header


def is_flexible(api_key: int, api_version: int) -> bool:
    key = (api_key, api_version)
    found = _FLEXIBLE.get(key)
    if found is None:
        spec = SPECS.get(api_key)
        found = spec is not None and api_version in spec.valid and api_version in spec.flexible
        if len(_FLEXIBLE) < 4096:  # keys come from the wire: bound what junk can add
            _FLEXIBLE[key] = found
    return found


_FLEXIBLE: dict[tuple[int, int], bool] = {}


# Per (api_key, version) codecs, looked up with a tuple of two ints.  ``build_decoder`` and
# ``build_encoder`` cache too, but their key is the whole field-declaration tree, and hashing that
# (frozen dataclasses, recursively) on every request cost more than decoding a small request.
_REQUEST_DECODERS: dict[tuple[int, int], Decoder] = {}
_RESPONSE_ENCODERS: dict[tuple[int, int], tuple[Encoder, bool]] = {}


def _request_decoder(spec: ApiSpec, version: int) -> Decoder:
    key = (spec.key, version)
    decoder = _REQUEST_DECODERS.get(key)
    if decoder is None:
        decoder = _REQUEST_DECODERS[key] = build_decoder(spec.request, version, version in spec.flexible)
    return decoder


def _response_encoder(api_key: int, version: int) -> tuple[Encoder, bool]:
    """The body encoder and whether the response header is flexible (v1)."""
    key = (api_key, version)
    found = _RESPONSE_ENCODERS.get(key)
    if found is None:
        spec = SPECS[api_key]
        flexible = version in spec.flexible
        found = _RESPONSE_ENCODERS[key] = (
            build_encoder(spec.response, version, flexible),
            response_header_flexible(api_key, flexible),
        )
    return found


def decode_request(frame: bytearray) -> tuple[RequestHeader, Msg]:
    """Decode header and body.  Raises DecodeError or UnsupportedVersion."""
    header = decode_request_header(frame, is_flexible)
    spec = SPECS.get(header.api_key)
    if spec is None or header.api_version not in spec.valid:
        raise UnsupportedVersion(header)
    body, _end = _request_decoder(spec, header.api_version)(frame, header.body_offset)
    # Bytes after the body are ignored, as Kafka ignores them: librdkafka's Metadata v12 request,
    # for one, carries a few more bytes than the schema declares.
    return header, body


def encode_response(api_key: int, api_version: int, correlation_id: int, body: Msg) -> bytes:
    """A complete response frame: int32 size, response header, body."""
    encoder, header_flexible = _response_encoder(api_key, api_version)
    out = bytearray(b"\0\0\0\0")
    encode_response_header(out, correlation_id, header_flexible)
    encoder(out, body)
    out[0:4] = (len(out) - 4).to_bytes(4, "big", signed=True)
    return bytes(out)


def encode_response_frame(api_key: int, api_version: int, correlation_id: int, body: Msg) -> Frame:
    """The frame ``encode_response`` gives, with large record sets kept by reference: ``bytes``, or
    the pieces to write in order (``gather``).  What the broker writes to its sockets."""
    encoder, header_flexible = _response_encoder(api_key, api_version)
    out = GatherBuffer(b"\0\0\0\0")
    encode_response_header(out, correlation_id, header_flexible)
    encoder(out, body)
    out[0:4] = (out.total_size() - 4).to_bytes(4, "big", signed=True)
    return out.frame()


def encode_request(api_key: int, api_version: int, correlation_id: int, client_id: str | None,
                   body: Msg) -> bytes:
    """A complete request frame (used by tests, fuzzers and tools)."""
    from streamlog.protocol.headers import encode_request_header

    spec = SPECS[api_key]
    flexible = api_version in spec.flexible
    out = bytearray(b"\0\0\0\0")
    encode_request_header(out, api_key, api_version, correlation_id, client_id, flexible)
    build_encoder(spec.request, api_version, flexible)(out, body)
    out[0:4] = (len(out) - 4).to_bytes(4, "big", signed=True)
    return bytes(out)
