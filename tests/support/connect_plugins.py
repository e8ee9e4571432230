"""Toy connectors for the runner's tests, registered through ``STREAMLOG_CONNECT_PLUGINS``.

Theory of operation: plugins.py loads a module's ``PLUGIN``, one plugin per module, so importing this
file registers the modules ``tests.support.connect_plugins.toy_source``, ``.toy_sink`` and ``.toy_tag``
in ``sys.modules``; `PLUGINS_ENV_VALUE` is the ``STREAMLOG_CONNECT_PLUGINS`` value naming them:

* ``toy-source``: emits records 0..``records``-1 to ``topic``, ``batch.size`` per poll, resuming
  after the stored offset ``{"position": i}`` of source partition ``{"toy": <connector name>}``;
  key ``"<i>"`` (string schema), value ``{"n": i}`` (struct).  ``fail.at`` raises when about to emit
  that position (``fail.times`` times; default always); ``bad.at`` (comma list) gives those records a
  value no converter can write (a Python set).  ``poll.delay.ms`` sleeps in each poll.  Every
  ``offsets_committed`` call is recorded in `COMMITTED` (per connector).
* ``toy-sink``: writes each record (topic, partition, offset, key, value as JSON text) to the SQLite
  file ``sqlite.path``, with the next offset of each partition in the same transaction; ``open``
  answers from that table, so a restart resumes exactly where the database is.  `ASSIGNED` holds
  each task's open partitions.  ``fail.on.value``
  raises in ``put`` for a record whose value's ``n`` equals it.
* ``toy-tag`` (a transform): adds header ``tag`` = ``value``; with ``drop.every`` = k it drops records
  whose value's ``n`` is a multiple of k.

`TinyConverter` is a schemaless JSON / UTF-8 string converter from before the real converters
(streamlog.connect.converters) landed; `install_fallback_converters` puts it in their place only if
they do not import (it does nothing now; tests/connect/rest still calls it).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
import types
from collections.abc import Mapping, Sequence
from typing import Any

from streamlog.connect import data
from streamlog.connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConnectorConfig,
    ConnectorKind,
    ConnectorPlugin,
    RecordT,
    SinkRecord,
    SinkTaskContext,
    SourceOffset,
    SourcePartition,
    SourceRecord,
    SourceTaskContext,
    TopicPartition,
    TransformPlugin,
)

PLUGINS_ENV_VALUE = ("toy-source=tests.support.connect_plugins.toy_source,"
                     "toy-sink=tests.support.connect_plugins.toy_sink,"
                     "toy-tag=tests.support.connect_plugins.toy_tag")

COMMITTED: dict[str, list[dict[str, tuple[SourcePartition, SourceOffset]]]] = {}
ASSIGNED: dict[tuple[str, int], set[TopicPartition]] = {}  # (connector, task id) -> partitions open now
_FAILURES: dict[str, int] = {}
_LOCK = threading.Lock()

VALUE_SCHEMA = data.struct("toy.Value", [("n", data.INT64)])


def reset() -> None:
    with _LOCK:
        COMMITTED.clear()
        ASSIGNED.clear()
        _FAILURES.clear()


class ToySourceTask:
    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config
        self.name = config.name
        self.topic = config.get_string("topic") or "toy"
        self.records = config.get_int("records")
        self.batch = config.get_int("batch.size")
        self.fail_at = config.get_int("fail.at")
        self.fail_times = config.get_int("fail.times")
        self.bad_at = {int(p) for p in config.get_list("bad.at")}
        self.delay_s = config.get_int("poll.delay.ms") / 1000
        self.position = 0
        self.partition = {"toy": self.name}

    def start(self, context: SourceTaskContext) -> None:
        stored = context.offset(self.partition)
        self.position = 0 if stored is None else int(stored["position"]) + 1

    def poll(self, timeout_s: float) -> Sequence[SourceRecord]:
        if self.delay_s:
            time.sleep(self.delay_s)
        out: list[SourceRecord] = []
        while self.position < self.records and len(out) < self.batch:
            i = self.position
            if i == self.fail_at:
                with _LOCK:
                    done = _FAILURES.get(self.name, 0)
                    if self.fail_times < 0 or done < self.fail_times:
                        _FAILURES[self.name] = done + 1
                        raise RuntimeError(f"toy source failing at position {i}")
            value: Any = {"n": i} if i not in self.bad_at else {"n": {1, 2}}
            out.append(SourceRecord({"toy": self.name}, {"position": i}, self.topic, data.STRING, str(i),
                                    VALUE_SCHEMA, value, headers=(("position", i),)))
            self.position += 1
        if not out:
            time.sleep(min(timeout_s, 0.05))
        return out

    def offsets_committed(self, offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        with _LOCK:
            COMMITTED.setdefault(self.name, []).append(dict(offsets))

    def stop(self) -> None:
        pass


SOURCE_PLUGIN = ConnectorPlugin(
    names=("toy-source",),
    kind=ConnectorKind.SOURCE,
    config_def=ConfigDef(keys=(
        ConfigKey("topic", ConfigType.STRING),
        ConfigKey("records", ConfigType.INT, "10"),
        ConfigKey("batch.size", ConfigType.INT, "10"),
        ConfigKey("fail.at", ConfigType.INT, "-1"),
        ConfigKey("fail.times", ConfigType.INT, "-1"),
        ConfigKey("bad.at", ConfigType.LIST, ""),
        ConfigKey("poll.delay.ms", ConfigType.INT, "0"),
    ), unsupported={"snapshot.mode": "the toy source has no snapshot"}),
    task_factory=ToySourceTask,
)


class ToySinkTask:
    def __init__(self, config: ConnectorConfig) -> None:
        self.name = config.name
        self.path = config.get_string("sqlite.path") or ""
        self.fail_on = config.get_int("fail.on.value")
        self.db: sqlite3.Connection | None = None

    def start(self, context: SinkTaskContext) -> None:
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS records (topic TEXT, partition INT, offset INT, "
                            "key TEXT, value TEXT, task INT)")
            self.db.execute("CREATE TABLE IF NOT EXISTS offsets (topic TEXT, partition INT, next INT, "
                            "PRIMARY KEY (topic, partition))")
        self.task_id = context.task_id

    def open(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        assert self.db is not None
        with _LOCK:
            ASSIGNED.setdefault((self.name, self.task_id), set()).update(partitions)
        starts: dict[TopicPartition, int] = {}
        for tp in partitions:
            row = self.db.execute("SELECT next FROM offsets WHERE topic = ? AND partition = ?",
                                  (tp.topic, tp.partition)).fetchone()
            if row is not None:
                starts[tp] = int(row[0])
        return starts

    def put(self, records: Sequence[SinkRecord]) -> None:
        assert self.db is not None
        for record in records:
            if isinstance(record.value, dict) and record.value.get("n") == self.fail_on:
                raise RuntimeError(f"toy sink refuses value {record.value}")
        with self.db:
            for record in records:
                self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                                (record.topic, record.partition, record.offset, record.key,
                                 json.dumps(record.value, sort_keys=True), self.task_id))
                self.db.execute("INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
                                "DO UPDATE SET next = excluded.next",
                                (record.topic, record.partition, record.offset + 1))

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        with _LOCK:
            ASSIGNED.setdefault((self.name, self.task_id), set()).difference_update(partitions)

    def stop(self) -> None:
        if self.db is not None:
            self.db.close()


SINK_PLUGIN = ConnectorPlugin(
    names=("toy-sink",),
    kind=ConnectorKind.SINK,
    config_def=ConfigDef(keys=(
        ConfigKey("sqlite.path", ConfigType.STRING),
        ConfigKey("fail.on.value", ConfigType.INT, "-1"),
    )),
    task_factory=ToySinkTask,
    max_tasks=8,
)


class ToyTag:
    def __init__(self, options: Mapping[str, str]) -> None:
        self.value = options.get("value", "")
        self.drop_every = int(options.get("drop.every", "0"))

    def apply(self, record: RecordT) -> RecordT | None:
        n = record.value.get("n") if isinstance(record.value, dict) else None
        if self.drop_every and isinstance(n, int) and n % self.drop_every == 0:
            return None
        return record.with_(headers=(*record.headers, ("tag", self.value)))


TAG_PLUGIN = TransformPlugin(
    names=("toy-tag",),
    config_def=ConfigDef(keys=(ConfigKey("value", ConfigType.STRING, ""),
                               ConfigKey("drop.every", ConfigType.INT, "0"))),
    factory=ToyTag,
)


def _register(name: str, plugin: ConnectorPlugin | TransformPlugin) -> None:
    """Register ``tests.support.connect_plugins.<name>``: a module whose ``PLUGIN`` is `plugin`."""
    module = types.ModuleType(f"{__name__}.{name}")
    module.PLUGIN = plugin  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module


_register("toy_source", SOURCE_PLUGIN)
_register("toy_sink", SINK_PLUGIN)
_register("toy_tag", TAG_PLUGIN)


# -- a stand-in for streamlog.connect.converters while it is not there -------------------------------

class TinyConverter:
    """StringConverter (``...storage.StringConverter``) or schemaless JSON (anything else)."""

    def __init__(self, class_name: str) -> None:
        self.string = class_name.endswith("StringConverter")

    def configure(self, options: Mapping[str, str], is_key: bool) -> None:
        pass

    def from_connect(self, topic: str, schema: data.Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        if self.string:
            return str(value).encode()
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    def to_connect(self, topic: str, raw: bytes | None) -> tuple[data.Schema | None, Any]:
        if raw is None:
            return None, None
        if self.string:
            return data.OPTIONAL_STRING, raw.decode()
        return None, json.loads(raw)


def _make_converter(class_name: str, options: Mapping[str, str], is_key: bool) -> TinyConverter:
    converter = TinyConverter(class_name)
    converter.configure(options, is_key)
    return converter


def install_fallback_converters() -> bool:
    """A stand-in ``streamlog.connect.converters`` if the real one does not import; True if so."""
    try:
        import streamlog.connect.converters  # noqa: F401
    except ImportError:
        module = types.ModuleType("streamlog.connect.converters")
        module.make_converter = _make_converter  # type: ignore[attr-defined]
        sys.modules["streamlog.connect.converters"] = module
        return True
    return False
