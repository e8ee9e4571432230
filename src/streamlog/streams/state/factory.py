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
from streamlog.streams.state.window import SessionBytesStore, WindowBytesStore


class StoreSpecLike(Protocol):
    """What `open_store` reads from a spec (topology's `StoreSpec` and `GlobalStoreSpec` both fit)."""

    @property
    def name(self) -> str: ...

    @property
    def persistent(self) -> bool: ...


def open_store(spec: StoreSpecLike, directory: Path | None) -> KeyValueBytesStore:
    """A new bytes store for `spec`; persistent stores open (or create) their files in `directory`.

    Window and session stores (``spec.store_type``) come wrapped in `WindowBytesStore` /
    `SessionBytesStore` over the same kind of key-value store.
    """
    if not spec.persistent:
        inner: KeyValueBytesStore = InMemoryKeyValueStore(spec.name)
    elif directory is None:
        raise ValueError(f"state store {spec.name!r} is persistent and needs a directory")
    else:
        inner = open_persistent_store(spec.name, directory)
    return wrap_store(spec, inner)


def wrap_store(spec: StoreSpecLike, inner: KeyValueBytesStore) -> KeyValueBytesStore:
    """`inner` as the kind of store `spec` declares (unchanged for key-value stores)."""
    store_type = getattr(spec, "store_type", "key-value")
    if store_type == "window":
        return WindowBytesStore(inner, getattr(spec, "retention_ms", 0),
                                getattr(spec, "retain_duplicates", False))
    if store_type == "session":
        return SessionBytesStore(inner, getattr(spec, "retention_ms", 0))
    return inner


def open_persistent_store(name: str, directory: Path) -> KeyValueBytesStore:
    """The persistent default store named `name`, with its files in `directory`."""
    from streamlog.streams.state.rocks import RocksKeyValueStore  # rocksdict loads only when needed

    return RocksKeyValueStore(name, directory)
