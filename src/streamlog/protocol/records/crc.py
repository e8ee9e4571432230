"""CRC-32C (Castagnoli) for record batches, through the C ``crc32c`` package.

Theory of operation: a v2 batch's CRC covers every byte from the attributes field (batch offset 21)
to the end of the batch; baseOffset, batchLength, partitionLeaderEpoch, magic and the CRC itself
lie outside it. That is what lets the broker assign offsets and leader epochs in place. The CRC is
computed over a memoryview slice, so no batch bytes are copied.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

__all__ = ["CRC_START", "batch_crc", "crc32c"]


def _load_extension() -> ModuleType:
    """The ``crc32c._crc32c`` C extension, without running the ``crc32c`` package's ``__init__``
    (which imports ``importlib.metadata`` for its version string: tens of milliseconds at broker
    start).  Falls back to the ordinary import if the layout is not the expected one."""
    import importlib.machinery
    import importlib.util

    name = "crc32c._crc32c"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    try:
        package = importlib.util.find_spec("crc32c")
        locations = package.submodule_search_locations if package is not None else None
        spec = importlib.machinery.PathFinder.find_spec(name, list(locations or ()))
        loader = spec.loader if spec is not None else None
        if spec is None or not isinstance(loader, importlib.machinery.ExtensionFileLoader):
            raise ImportError(name)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        sys.modules[name] = module  # the package, if imported later, uses this same module
        return module
    except ImportError:
        import crc32c as package_module

        return package_module


_crc32c: Callable[[bytes | bytearray | memoryview], int] = _load_extension().crc32c

CRC_START = 21  # offset of the attributes field inside a batch: the first byte the CRC covers


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit integer."""
    return int(_crc32c(data))


def batch_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the batch of ``size`` total bytes at ``pos``: attributes..end of batch."""
    with memoryview(buf) as view:
        return int(_crc32c(view[pos + CRC_START : pos + size]))
