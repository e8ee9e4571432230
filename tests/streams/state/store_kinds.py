"""The persistent bytes stores under test: name -> (opener(directory), exact approximate_num_entries)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.state.rocks import RocksKeyValueStore

PERSISTENT_KINDS: dict[str, tuple[Callable[[Path], KeyValueBytesStore], bool]] = {
    "rocksdict": (lambda directory: RocksKeyValueStore("s", directory), False),
}
