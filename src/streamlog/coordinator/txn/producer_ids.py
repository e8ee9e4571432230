"""Producer id allocation: ids are handed out from blocks reserved durably, never reused.

Theory of operation: before handing out an id from a new block, the coordinator writes a
``ProducerIdBlock`` record ("every id below ``next`` may be in use") to ``__transaction_state`` and
waits for it to be on disk.  After a restart, allocation resumes at the last reserved ``next``, so
an id that might have been given to a producer before a crash is never given out again; at most one
block of ids is skipped per restart.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK_SIZE = 1000


class NeedBlock(Exception):
    """The reserved block is used up: reserve another (``reserve``) before allocating."""


@dataclass(slots=True)
class ProducerIdAllocator:
    next_id: int = 0
    reserved_until: int = 0  # ids below this are reserved durably

    def needs_block(self, count: int = 1) -> bool:
        return self.next_id + count > self.reserved_until

    def block_end(self) -> int:
        """The ``next`` value to write when reserving the next block."""
        return self.next_id + BLOCK_SIZE

    def reserved(self, until: int) -> None:
        """A reservation up to ``until`` (written by ``block_end``) is now durable."""
        self.reserved_until = max(self.reserved_until, until)

    def restore(self, until: int) -> None:
        """Replaying the log after a restart: ids below ``until`` may have been handed out."""
        self.next_id = max(self.next_id, until)
        self.reserved_until = max(self.reserved_until, until)

    def allocate(self) -> int:
        if self.next_id >= self.reserved_until:
            raise NeedBlock
        pid = self.next_id
        self.next_id += 1
        return pid
