"""From recorded connections and a broker's data directory to the seed corpus of every target.

Theory of operation: a recorded connection is two byte streams.  Client-to-broker streams are cut
into request frames (int32 size, then the frame); each request's header gives its correlation id
and (api key, version), which name the response with that correlation id in the other stream.
Seeds are then chosen per kind, the smallest first, a few per kind, so the corpus stays small while
every client, (key, version), codec and batch flavour that was seen is kept: see ``write_corpus``.
File names say where a seed came from (``<client>-<what>-<sha1 prefix>``, or ``synthetic-...``);
each target's input layout is documented in its module in :mod:`fuzz.targets`.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.capture import Connection

_SIZE = struct.Struct(">i")
_REQUEST = struct.Struct(">hhi")
_PAIR = struct.Struct(">hh")
_U32 = struct.Struct(">I")
MAX_SEED = 16 * 1024  # larger frames and record sets are left out
PRODUCE, FETCH = 0, 1
TARGET_NAMES = ("framing", "headers", "request", "response", "records", "compression", "varint", "storage")


@dataclass(frozen=True)
class Frame:
    client: str
    api_key: int
    version: int
    data: bytes  # without the size prefix


def split_frames(stream: bytes | bytearray) -> list[bytes]:
    """The whole size-prefixed frames at the start of ``stream`` (a torn tail is dropped)."""
    out, pos = [], 0
    while len(stream) - pos >= 4:
        (size,) = _SIZE.unpack_from(stream, pos)
        if size < 0 or len(stream) - pos - 4 < size:
            break
        out.append(bytes(stream[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return out


def requests_and_responses(connections: Iterable[Connection]) -> tuple[list[Frame], list[Frame]]:
    requests: list[Frame] = []
    responses: list[Frame] = []
    for conn in connections:
        names: dict[int, tuple[int, int]] = {}
        for data in split_frames(bytes(conn.to_broker)):
            if len(data) >= _REQUEST.size:
                key, version, correlation = _REQUEST.unpack_from(data)
                names[correlation] = (key, version)
                requests.append(Frame(conn.client, key, version, data))
        for data in split_frames(bytes(conn.to_client)):
            if len(data) >= 4 and _SIZE.unpack_from(data)[0] in names:
                key, version = names[_SIZE.unpack_from(data)[0]]
                responses.append(Frame(conn.client, key, version, data))
    return requests, responses


class CorpusWriter:
    """Empties each target's directory (except the inputs of past findings, ``finding-*``), then
    writes seeds, one file per distinct content."""

    def __init__(self, root: Path, *, keep: bool = False) -> None:
        self.root = root
        self._seen: dict[str, set[bytes]] = defaultdict(set)
        self.counts: dict[str, tuple[int, int]] = {}
        for target in TARGET_NAMES:
            directory = root / target
            directory.mkdir(parents=True, exist_ok=True)
            for path in directory.iterdir():
                if keep and path.is_file():
                    self._seen[target].add(path.read_bytes())
                elif path.is_file() and not path.name.startswith("finding-"):  # findings' inputs stay
                    path.unlink()
            self.counts[target] = (0, 0)

    def write(self, target: str, name: str, data: bytes) -> None:
        if data in self._seen[target]:
            return
        self._seen[target].add(data)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
        digest = hashlib.sha1(data).hexdigest()[:10]
        (self.root / target / f"{safe}-{digest}").write_bytes(data)
        files, size = self.counts[target]
        self.counts[target] = (files + 1, size + len(data))


def smallest(items: Iterable[Any], key: Callable[[Any], object], size: Callable[[Any], int],
             per_key: int) -> list[Any]:
    """Up to ``per_key`` items per key, the smallest first (ties broken by content order)."""
    groups: dict[object, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    out: list[Any] = []
    for group in groups.values():
        out += sorted(group, key=size)[:per_key]
    return out


def _api_name(api_key: int) -> str:
    from streamlog.protocol.registry import SPECS

    spec = SPECS.get(api_key)
    return spec.name if spec is not None else f"api{api_key}"


def _response_body(frame: Frame) -> dict[str, Any] | None:
    from streamlog.protocol import primitives as p
    from streamlog.protocol.codec import _skip_tagged, build_decoder
    from streamlog.protocol.headers import response_header_flexible
    from streamlog.protocol.registry import SPECS

    spec = SPECS.get(frame.api_key)
    if spec is None or frame.version not in spec.valid:
        return None
    flexible = frame.version in spec.flexible
    _corr, pos = p.read_int32(frame.data, 0)
    if response_header_flexible(frame.api_key, flexible):
        pos = _skip_tagged(frame.data, pos, {}, {})
    body, _end = build_decoder(spec.response, frame.version, flexible)(frame.data, pos)
    return body


def record_sets(requests: list[Frame], responses: list[Frame]) -> list[tuple[str, str, bytes]]:
    """(client, "produce" or "fetch", records) of every non-empty records field seen."""
    from streamlog.protocol.registry import decode_request

    out = []
    for frame in requests:
        if frame.api_key == PRODUCE:
            _header, body = decode_request(bytearray(frame.data))
            for topic in body["topic_data"]:
                for part in topic["partition_data"]:
                    if part["records"]:
                        out.append((frame.client, "produce", bytes(part["records"])))
    for frame in responses:
        if frame.api_key == FETCH:
            response = _response_body(frame)
            for topic in (response or {}).get("responses", ()):
                for part in topic["partitions"]:
                    if part["records"]:
                        out.append((frame.client, "fetch", bytes(part["records"])))
    return out


def _flavour(records: bytes) -> tuple[tuple[str, ...], bool, bool]:
    """(codecs, any control batch, any transactional batch) of a records section."""
    from streamlog.protocol.records.batch import iter_batches
    from streamlog.protocol.records.compression import Compression

    codecs, control, txn = set(), False, False
    for _pos, header in iter_batches(records):
        codecs.add(Compression(header.attributes & 7).name.lower())
        control |= header.is_control
        txn |= header.is_transactional
    return tuple(sorted(codecs)), control, txn


def write_corpus(connections: list[Connection], data_dir: Path, root: Path) -> dict[str, tuple[int, int]]:
    """Write every target's seeds under ``root``; (files, bytes) per target."""
    from streamlog.protocol.headers import decode_request_header
    from streamlog.protocol.records.batch import iter_batches
    from streamlog.protocol.records.compression import Compression
    from streamlog.protocol.registry import is_flexible

    writer = CorpusWriter(root)
    requests, responses = requests_and_responses(connections)

    # request: one per (key, version, client), two of Produce and Fetch; headers: the header and a few
    # body bytes of one.
    by_pair: Callable[[Frame], object] = lambda f: (f.api_key, f.version, f.client)  # noqa: E731
    hot = [f for f in requests if f.api_key in (PRODUCE, FETCH)]
    rest = [f for f in requests if f.api_key not in (PRODUCE, FETCH)]
    size: Callable[[Frame], int] = lambda f: len(f.data)  # noqa: E731
    chosen = smallest(hot, by_pair, size, 2) + smallest(rest, by_pair, size, 1)
    for frame in chosen:
        if len(frame.data) <= MAX_SEED:
            writer.write("request", f"{frame.client}-{_api_name(frame.api_key)}-v{frame.version}", frame.data)
    for frame in smallest(requests, lambda f: (f.api_key, f.version, f.client), lambda f: len(f.data), 1):
        end = decode_request_header(frame.data, is_flexible).body_offset
        writer.write("headers", f"{frame.client}-{_api_name(frame.api_key)}-v{frame.version}",
                     frame.data[: end + 4])
    # response: one per (key, version, client), prefixed with the key and version.
    for frame in smallest(responses, lambda f: (f.api_key, f.version, f.client), lambda f: len(f.data), 1):
        if len(frame.data) <= MAX_SEED:
            writer.write("response", f"{frame.client}-{_api_name(frame.api_key)}-v{frame.version}",
                         _PAIR.pack(frame.api_key, frame.version) + frame.data)
    # framing: the start of each client's busiest connection, fed whole, in pieces, and over a small limit.
    busiest: dict[str, Connection] = {}
    for conn in connections:
        best = busiest.get(conn.client)
        if best is None or len(split_frames(conn.to_broker)) > len(split_frames(best.to_broker)):
            busiest[conn.client] = conn
    for client, conn in busiest.items():
        stream, pos = bytes(conn.to_broker), 0
        for data in split_frames(stream):
            if pos + 4 + len(data) > 3000:
                break
            pos += 4 + len(data)
        head = stream[: pos + 40]  # whole frames, then a torn one
        for limits, seed in ((7, 0), (7, 1), (7, 37), (4, 3)):
            writer.write("framing", f"{client}-stream-max{limits}-chunks{seed}", bytes([limits, seed]) + head)
    # records: per (client, source, codecs, control, transactional) the two smallest record sets.
    sets = [(client, source, data, _flavour(data))
            for client, source, data in record_sets(requests, responses)]
    for client, source, data, (codecs, control, txn) in smallest(
            sets, lambda s: (s[0], s[1], s[3]), lambda s: len(s[2]), 2):
        if len(data) <= MAX_SEED:
            flavour = "-".join(codecs) + ("-control" if control else "") + ("-txn" if txn else "")
            writer.write("records", f"{client}-{source}-{flavour}", b"\x01" + data)  # flag: fix CRCs
    # compression: the compressed sections of those batches, two per (client, codec).
    sections = []
    for client, _source, data, _kind in sets:
        for pos, header in iter_batches(data):
            codec = header.attributes & 7
            if codec:
                sections.append((client, codec, data[pos + 61 : pos + header.size]))
    for client, codec, section in smallest(sections, lambda s: (s[0], s[1]), lambda s: len(s[2]), 2):
        writer.write("compression", f"{client}-{Compression(codec).name.lower()}", bytes([codec]) + section)
    seen_requests = {(f.api_key, f.version) for f in requests}
    seen_responses = {(f.api_key, f.version) for f in responses}
    _synthetic(writer, seen_requests, seen_responses)
    _storage(writer, data_dir)
    return writer.counts


# APIs no recorded client sends (or only some versions of): besides the default-valued message, a
# filled one (``filled``) per version, so that fuzzing starts inside their arrays and nested structs.
FILLED_APIS = frozenset({
    34, 43, 45, 46,  # AlterReplicaLogDirs, ElectLeaders, Alter/ListPartitionReassignments
    75, 68, 69,  # DescribeTopicPartitions, ConsumerGroupHeartbeat, ConsumerGroupDescribe
    22, 24, 25, 26, 28,  # InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit
    61, 65, 66,  # DescribeProducers, DescribeTransactions, ListTransactions
})
_FILLED_SCALARS: dict[str, Any] = {"int8": 1, "int16": 2, "int32": 3, "int64": 4, "float64": 0.5,
                                   "bool": True, "string": "s1", "bytes": b"b1", "records": b""}


def filled(fields: Iterable[Any], version: int) -> dict[str, Any]:
    """A message with every field of ``version`` set to a non-default value: two elements in every
    array, every nullable field present, every tagged field given (so it is written)."""
    import uuid

    out: dict[str, Any] = {}
    for fld in fields:
        if version not in fld.versions and version not in fld.tagged_versions:
            continue
        element = fld.element if fld.is_array else fld.type
        if element == "struct":
            value: Any = filled(fld.fields, version)
        elif element == "uuid":
            value = uuid.UUID(int=0x5EED)
        else:
            value = _FILLED_SCALARS[element]
        out[fld.name] = [value, value] if fld.is_array else value
    return out


def _synthetic(writer: CorpusWriter, seen_requests: set[tuple[int, int]],
               seen_responses: set[tuple[int, int]]) -> None:
    """Default-valued messages for every (key, version) no client used (and filled ones of
    ``FILLED_APIS``); varints; compressed data."""
    from streamlog.protocol.records.compression import Compression, compress, compress_snappy_xerial
    from streamlog.protocol.records.varint import write_varint
    from streamlog.protocol.registry import SPECS, encode_request, encode_response

    for spec in SPECS.values():
        for version in range(spec.valid.low, spec.valid.high + 1):
            if (spec.key, version) not in seen_requests:
                frame = encode_request(spec.key, version, 1, "fuzz", {})
                writer.write("request", f"synthetic-{spec.name}-v{version}", frame[4:])
            if (spec.key, version) not in seen_responses:
                frame = encode_response(spec.key, version, 1, {})
                writer.write("response", f"synthetic-{spec.name}-v{version}",
                             _PAIR.pack(spec.key, version) + frame[4:])
            if spec.key in FILLED_APIS:
                frame = encode_request(spec.key, version, 1, "fuzz", filled(spec.request, version))
                writer.write("request", f"synthetic-{spec.name}-v{version}-filled", frame[4:])
                frame = encode_response(spec.key, version, 1, filled(spec.response, version))
                writer.write("response", f"synthetic-{spec.name}-v{version}-filled",
                             _PAIR.pack(spec.key, version) + frame[4:])
    for value in (0, -1, 1, 63, -64, 64, 300, (1 << 31) - 1, -(1 << 31), (1 << 63) - 1, -(1 << 63)):
        out = bytearray()
        write_varint(out, value)
        writer.write("varint", f"synthetic-{value}", bytes(out))
    for raw in (b"\x80\x00", b"\xff" * 9 + b"\x01", b"\xff" * 10 + b"\x01", b"\x80"):
        writer.write("varint", "synthetic-odd", raw)
    text = b"streamlog fuzz seed " * 20
    writer.write("compression", "synthetic-snappy-xerial",
                 bytes([Compression.SNAPPY]) + compress_snappy_xerial(text, 64))
    writer.write("compression", "synthetic-gzip-two-members",
                 bytes([Compression.GZIP]) + compress(Compression.GZIP, text)
                 + compress(Compression.GZIP, b"x"))


def add_synthetic(root: Path) -> dict[str, tuple[int, int]]:
    """Add the synthetic request and response seeds to a committed corpus without recapturing
    (``python -m fuzz.capture --synthetic-only``): "seen" is what the recorded seeds' names say."""
    from streamlog.protocol.registry import SPECS

    writer = CorpusWriter(root, keep=True)
    names = {spec.name: spec.key for spec in SPECS.values()}

    def recorded(target: str) -> set[tuple[int, int]]:
        out = set()
        for path in (root / target).iterdir():
            found = re.search(r"-([A-Za-z]+)-v(\d+)-", path.name)
            if found and not path.name.startswith("synthetic-") and found.group(1) in names:
                out.add((names[found.group(1)], int(found.group(2))))
        return out

    _synthetic(writer, recorded("request"), recorded("response"))
    return writer.counts


_STORAGE_MODES = {
    ".index": 0, ".timeindex": 1, "recovery-point.checkpoint": 2, "log-start-offset.checkpoint": 3,
    "producer-state.snapshot": 4, "cleaner-swap.manifest": 5, "cleaner-offset.checkpoint": 6,
}


def _storage(writer: CorpusWriter, data_dir: Path) -> None:
    """The broker's own index, checkpoint and snapshot files, three per kind; made-up cleaner files."""
    from streamlog.storage.cleaner_files import CleanerCheckpoint, encode_checkpoint, encode_manifest

    found: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for directory, _dirs, files in os.walk(data_dir):
        for name in files:
            path = Path(directory) / name
            suffix = path.suffix if path.suffix in (".index", ".timeindex") else name
            mode = _STORAGE_MODES.get(suffix)
            if mode is None:
                continue
            content = path.read_bytes()
            if mode == 0:
                log = path.with_suffix(".log")
                size = log.stat().st_size if log.exists() else 0
                content = _U32.pack(size) + content[: 2048 - 2048 % 8]
            elif mode == 1:
                content = _U32.pack(0x7FFFFFFF) + content[: 2040 - 2040 % 12]
            flag = 0x80 if mode >= 2 else 0  # CRC-protected files: the target rewrites the CRC
            found[mode].append((f"{Path(directory).name}-{name}", bytes([mode | flag]) + content))
    for _mode, items in sorted(found.items()):
        for name, data in sorted(items, key=lambda item: -len(item[1]))[:3]:
            writer.write("storage", re.sub(r"-[0-9a-f]{6}-", "-", name), data)
    writer.write("storage", "synthetic-cleaner-swap.manifest",
                 bytes([5 | 0x80]) + encode_manifest([(0, 10), (20, 35)]))
    writer.write("storage", "synthetic-cleaner-offset.checkpoint",
                 bytes([6 | 0x80]) + encode_checkpoint(CleanerCheckpoint(120, 1_700_000_000_000)))


__all__ = ["CorpusWriter", "Frame", "add_synthetic", "filled", "requests_and_responses", "split_frames",
           "write_corpus"]
