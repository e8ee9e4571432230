"""The state layer's errors.

`StoreClosedError` is Kafka Streams' ``InvalidStateStoreException`` for the common case: a store
used after `close()`.  `StateDirLockedError` says another process holds the application's state
directory (two instances of one application on one machine must use distinct ``state_dir``\\ s).
"""

from __future__ import annotations

from pathlib import Path


class StateStoreError(Exception):
    """Base class of the state layer's errors."""


class StoreClosedError(StateStoreError):
    """A store was read or written after `close()`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"state store {name!r} is closed")
        self.name = name


class StateDirLockedError(StateStoreError):
    """Another process holds the lock on an application's state directory."""

    def __init__(self, path: Path, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"state directory {path} is locked by another process{suffix}; two instances of one "
            "application on one machine need distinct state_dir settings"
        )
        self.path = path
