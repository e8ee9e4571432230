"""Opening the bytes store a `StoreSpec` asks for.

Theory of operation: a spec says only whether the store is persistent.  In-memory stores need no
directory and start empty (the runtime restores them from their changelog).  Persistent stores are
RocksDB databases through rocksdict (`rocks.py`; chosen over SQLite by measurement,
docs/bench/streams-stores.md) and keep their files in
`directory`, the store's own directory (`StateDirectory.store_dir(task_id, spec.name)`), which is
created if missing.  What was flushed before a close is there again when the store is reopened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.state.memory import InMemoryKeyValueStore


class StoreSpecLike(Protocol):
    """What `open_store` reads from a spec (topology's `StoreSpec` and `GlobalStoreSpec` both fit)."""

    @property
    def name(self) -> str: ...

    @property
    def persistent(self) -> bool: ...


def open_store(spec: StoreSpecLike, directory: Path | None) -> KeyValueBytesStore:
    """A new bytes store for `spec`; persistent stores open (or create) their files in `directory`."""
    if not spec.persistent:
        return InMemoryKeyValueStore(spec.name)
    if directory is None:
        raise ValueError(f"state store {spec.name!r} is persistent and needs a directory")
    return open_persistent_store(spec.name, directory)


def open_persistent_store(name: str, directory: Path) -> KeyValueBytesStore:
    """The persistent default store named `name`, with its files in `directory`."""
    from streamlog.streams.state.rocks import RocksKeyValueStore  # rocksdict loads only when needed

    return RocksKeyValueStore(name, directory)
