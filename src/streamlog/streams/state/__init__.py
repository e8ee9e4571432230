"""State stores: bytes stores (in memory, RocksDB), the typed facade, task directories, checkpoints.

Layout: `memory.py` (a sorted dict), `rocks.py` (RocksDB through rocksdict, the persistent store,
imported only when a persistent store is opened), `factory.py` (`open_store(spec, directory)`),
`typed.py` (`KeyValueStore`, `ReadOnlyKeyValueStore`: serdes and change logging over a bytes store),
`directory.py` (``<state_dir>/<application_id>/<task_id>/<store>`` and the instance lock),
`checkpoint.py` (the ``.checkpoint`` file of changelog offsets), `errors.py`.
"""

from streamlog.streams.state.checkpoint import OffsetCheckpoint
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.state.errors import StateDirLockedError, StateStoreError, StoreClosedError
from streamlog.streams.state.factory import open_persistent_store, open_store
from streamlog.streams.state.memory import InMemoryKeyValueStore
from streamlog.streams.state.typed import ChangelogCallback, KeyValueStore, ReadOnlyKeyValueStore

__all__ = [
    "ChangelogCallback",
    "InMemoryKeyValueStore",
    "KeyValueStore",
    "OffsetCheckpoint",
    "ReadOnlyKeyValueStore",
    "StateDirLockedError",
    "StateDirectory",
    "StateStoreError",
    "StoreClosedError",
    "open_persistent_store",
    "open_store",
]
