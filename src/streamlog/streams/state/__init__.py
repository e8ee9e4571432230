"""State stores: bytes stores (in memory, RocksDB), the typed facade, task directories, checkpoints.

Layout: `memory.py` (a sorted dict), `rocks.py` (RocksDB through rocksdict, the persistent store,
imported only when a persistent store is opened), `factory.py` (`open_store(spec, directory)`),
`typed.py` (`KeyValueStore`, `ReadOnlyKeyValueStore`: serdes and change logging over a bytes store),
`window.py` (window and session stores in bytes over a key-value store, expired by stream time),
`typed_window.py` (their typed facades),
`directory.py` (``<state_dir>/<application_id>/<task_id>/<store>`` and the instance lock),
`checkpoint.py` (the ``.checkpoint`` file of changelog offsets), `errors.py`.
"""

from streamlog.streams.state.checkpoint import OffsetCheckpoint
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.state.errors import StateDirLockedError, StateStoreError, StoreClosedError
from streamlog.streams.state.factory import open_persistent_store, open_store, wrap_store
from streamlog.streams.state.memory import InMemoryKeyValueStore
from streamlog.streams.state.typed import ChangelogCallback, KeyValueStore, ReadOnlyKeyValueStore
from streamlog.streams.state.typed_window import (
    ReadOnlySessionStore,
    ReadOnlyWindowStore,
    SessionStore,
    WindowStore,
)
from streamlog.streams.state.window import SessionBytesStore, WindowBytesStore

__all__ = [
    "ChangelogCallback",
    "InMemoryKeyValueStore",
    "KeyValueStore",
    "OffsetCheckpoint",
    "ReadOnlyKeyValueStore",
    "ReadOnlySessionStore",
    "ReadOnlyWindowStore",
    "SessionBytesStore",
    "SessionStore",
    "StateDirLockedError",
    "StateDirectory",
    "StateStoreError",
    "StoreClosedError",
    "WindowBytesStore",
    "WindowStore",
    "open_persistent_store",
    "open_store",
    "wrap_store",
]
