"""The broker's share of the process's open-file limit: log files, connections, partitions.

Theory of operation: every descriptor the broker uses comes out of one pool, the process's soft
``RLIMIT_NOFILE`` (``ulimit -n``). ``streamlog serve`` first raises the soft limit to the hard one
(`raise_open_file_limit`, logged once); the embedded broker leaves the host process's limit alone
(its users may call the same function). `ResourceLimits.derive` then splits what the limit allows:

    reserved     RESERVED_DESCRIPTORS (64): standard streams, the event loop (epoll, self-pipe), the
                 data directory's lock, the io_uring ring or AIO context and their eventfds, the
                 syncfs round's directory descriptor, and the short-lived descriptors of fsync
                 threads, index-block writes, checkpoints, the log cleaner and retention
    log files    half of the rest (at least MIN_LOG_FILES): the descriptor cache of segment files
                 (``storage/descriptors.py``), setting ``streamlog.max.open.log.files``
    connections  the other half (at least MIN_CONNECTIONS): client connections, setting
                 ``max.connections`` (Kafka's name; Kafka's default is unlimited)

So with ``ulimit -n 1024``: 480 log files and 480 connections. When the limit of connections is
reached the listener stops accepting until one closes (``listener.py``), so a flood of clients can
never take the descriptors the logs need (an ``open`` failing in the storage layer would take the
data directory offline). Partitions do not need descriptors of their own any more (the cache opens
their files on demand), so how many the broker holds is a setting of its own,
``streamlog.max.partitions``, which CreateTopics and CreatePartitions check before writing anything.
A syncfs round lends every descriptor in it to the kernel until it ends, so a round takes at most
half the log-file budget (``flush_round``); the rest of the line waits for the next round.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from typing import Final

from streamlog.broker.config import BrokerConfig

log = logging.getLogger(__name__)

RESERVED_DESCRIPTORS: Final = 64
MIN_LOG_FILES: Final = 16
MIN_CONNECTIONS: Final = 16
LOW_LIMIT: Final = 256  # at or below this the broker says, at start, that the limit is low
_UNBOUNDED: Final = 1 << 20  # what an "infinite" limit counts as in the arithmetic
NR_OPEN_PATH: Final = "/proc/sys/fs/nr_open"  # Linux: the most RLIMIT_NOFILE may be set to


@dataclass(frozen=True, slots=True)
class OpenFileLimit:
    """The process's open-file limit after `raise_open_file_limit`."""

    soft: int
    hard: int
    raised_from: int | None  # the soft limit before, if it was raised
    error: str | None = None  # why it could not be raised, if it could not

    def describe(self) -> str:
        hard = "unlimited" if self.hard == resource.RLIM_INFINITY else str(self.hard)
        if self.raised_from is not None:
            return f"open-file limit {self.soft} (raised from {self.raised_from}; hard limit {hard})"
        if self.error is not None:
            return f"open-file limit {self.soft} (hard limit {hard}; could not raise it: {self.error})"
        return f"open-file limit {self.soft} (the hard limit)"


def _counted(limit: int) -> int:
    return _UNBOUNDED if limit == resource.RLIM_INFINITY or limit > _UNBOUNDED else limit


def _nr_open() -> int:
    try:
        with open(NR_OPEN_PATH, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return _UNBOUNDED


def current_open_file_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` now (an unlimited one counts as 2**20)."""
    return _counted(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def raise_open_file_limit() -> OpenFileLimit:
    """Raise this process's soft open-file limit to its hard limit (what any process may do).

    ``streamlog serve`` calls it at start. An application embedding the broker may call it too;
    `EmbeddedBroker` does not, since the limit belongs to the whole process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(_nr_open(), _UNBOUNDED) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            return OpenFileLimit(soft, hard, None, str(exc))
        return OpenFileLimit(target, hard, soft)
    return OpenFileLimit(soft, hard, None)


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """How many descriptors, connections and partitions one broker uses at most."""

    open_files: int  # the process's soft open-file limit when the broker started
    log_files: int  # segment descriptors kept open at most (the descriptor cache)
    connections: int  # client connections at most
    partitions: int | None  # topic partitions at most (None: no limit)

    @property
    def flush_round(self) -> int:
        """Partitions in one syncfs round at most (each lends its descriptor until the round ends)."""
        return max(2, self.log_files // 2)

    @classmethod
    def derive(cls, config: BrokerConfig, open_files: int | None = None) -> ResourceLimits:
        """Split the open-file limit (default: the process's now) as the module doc says; settings
        given explicitly win."""
        limit = current_open_file_limit() if open_files is None else _counted(open_files)
        spare = max(limit - RESERVED_DESCRIPTORS, 0)
        log_files = int(config.get("streamlog.max.open.log.files"))
        if log_files < 0:
            log_files = max(MIN_LOG_FILES, spare // 2)
        connections = int(config.get("max.connections"))
        if connections < 0:
            connections = max(MIN_CONNECTIONS, spare - log_files)
        partitions = int(config.get("streamlog.max.partitions"))
        return cls(limit, log_files, connections, None if partitions < 0 else partitions)

    def describe(self) -> str:
        partitions = "no limit" if self.partitions is None else f"at most {self.partitions}"
        return (f"open-file limit {self.open_files}: at most {self.log_files} segment files open, "
                f"{self.connections} connections; partitions: {partitions}")

    def warn_if_low(self) -> None:
        if self.open_files <= LOW_LIMIT:
            log.warning("the open-file limit (%d) is low: the broker keeps at most %d segment files "
                        "open and takes at most %d connections; raise it (ulimit -n) if you can",
                        self.open_files, self.log_files, self.connections)
