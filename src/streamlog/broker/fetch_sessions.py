"""Fetch sessions (KIP-227): the cache of incremental fetch sessions, as pure state (no clock, no I/O).

Theory of operation.  A consumer that fetches the same partitions again and again may ask for a
*session*: the broker remembers the partitions and their fetch parameters, and later requests name
only what changed (``incremental`` fetches), while responses carry only partitions with something
new.  A request's ``(session_id, session_epoch)`` says what it is; ``new_context`` turns it into a
:class:`FetchContext`, and ``respond`` (called once, when the response is built, which may be
after the request waited in the purgatory) finishes it:

=============================  ==============================================================
request (session_id, epoch)    what happens
=============================  ==============================================================
(any, 0 INITIAL_EPOCH)         full fetch: the session named (if any) is closed; the response
                               creates a new session, with epoch 1, when a slot is free or one
                               can be evicted (else session id 0: no session)
(any, -1 FINAL_EPOCH)          full fetch: the session named (if any) is closed; no new one
(0, e > 0)                     FETCH_SESSION_ID_NOT_FOUND (there is no session 0)
(id, e > 0), id unknown        FETCH_SESSION_ID_NOT_FOUND
(id, e), e != session's epoch  INVALID_FETCH_SESSION_EPOCH
(id, e), v13+ and a v4-12      FETCH_SESSION_TOPIC_ID_ERROR (sessions key partitions by topic id
session, or the reverse        from v13 on, by name before)
(id, e), fine                  incremental: the request's partitions are added or update their
                               cached parameters, ``forgotten_topics_data`` removes some; a
                               session left empty is closed (sessionless answer, id 0);
                               otherwise the epoch moves to ``next_epoch(e)`` and every
                               partition of the session is read, in the session's order
=============================  ==============================================================

An incremental response holds only the partitions that must be sent (``CachedPartition.
must_respond``): records, a changed high watermark, last stable offset or log start offset, or an
error (which also forgets the cached high watermark, so the partition is sent again once the error
clears).  Partitions that returned records move to the back of the session's order, so a
``max_bytes`` too small for all of them serves each in turn.  If the session's epoch moved on while
the request waited (a duplicate request), the response is INVALID_FETCH_SESSION_EPOCH.

Kafka compares only the high watermark and the log start offset; the last stable offset is
compared here too (the brief's rule), which can only add a partition to a response, never drop one.

The cache (Kafka's ``FetchSessionCache``): ``max.incremental.fetch.session.cache.slots`` sessions
at most (default 1000), split equally over 8 shards, each owning a range of session ids; new
sessions go to the shards in turn, and a full shard may evict one of its own sessions:

* the least recently used one, if it has been unused for more than
  ``MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`` (120 s, Kafka's constant of that name); else
* the "least valuable" evictable one (unprivileged before privileged, then fewer partitions, then
  lower id) if it is not more valuable than the new session would be.  Evictable means, as of its
  last use: created more than 120 s before that use; or, for a privileged (follower) request, any
  unprivileged session.

So a consumer's new session never displaces one younger than 120 s unless that one went unused for
120 s.  With fewer than 8 slots every shard has 0 and no session is ever created (as in Kafka);
0 turns sessions off: every response says session id 0 and clients keep sending full requests.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NewType

from streamlog.protocol.errors import ErrorCode

SessionId = NewType("SessionId", int)

INVALID_SESSION_ID: Final = SessionId(0)
INITIAL_EPOCH: Final = 0
FINAL_EPOCH: Final = -1
INT32_MAX: Final = 0x7FFFFFFF
NUM_SHARDS: Final = 8  # Kafka's NumFetchSessionCacheShards
MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: Final = 120_000
FIRST_TOPIC_ID_VERSION: Final = 13

TopicRef = str | uuid.UUID  # a topic's name in sessions of v4-12, its id from v13 on
PartitionKey = tuple[TopicRef, int]


def next_epoch(epoch: int) -> int:
    """The epoch after ``epoch``: FINAL stays FINAL, the largest int32 wraps to 1 (never 0)."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == INT32_MAX:
        return 1
    return epoch + 1


@dataclass(frozen=True, slots=True)
class PartitionRequest:
    """What a fetch request asks of one partition (cached in a session between requests)."""

    fetch_offset: int
    partition_max_bytes: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    log_start_offset: int = -1


@dataclass(frozen=True, slots=True)
class PartitionReply:
    """What a response says of one partition, as far as sessions care."""

    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    records_size: int


@dataclass(slots=True)
class CachedPartition:
    """One partition of a session: the request's parameters and what the last response said."""

    request: PartitionRequest
    topic_name: str | None  # for topic-id sessions: the name the id resolved to, None while unknown
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1

    def must_respond(self, reply: PartitionReply, update: bool) -> bool:
        """Whether an incremental response must carry this partition; ``update`` records the reply."""
        must = reply.records_size > 0
        if self.high_watermark != reply.high_watermark:
            must = True
            if update:
                self.high_watermark = reply.high_watermark
        if self.last_stable_offset != reply.last_stable_offset:
            must = True
            if update:
                self.last_stable_offset = reply.last_stable_offset
        if self.log_start_offset != reply.log_start_offset:
            must = True
            if update:
                self.log_start_offset = reply.log_start_offset
        if reply.error_code != ErrorCode.NONE:
            if update:
                self.high_watermark = -1  # so the partition is sent again once the error clears
            must = True
        return must


@dataclass(slots=True)
class FetchSession:
    id: SessionId
    privileged: bool  # created by a follower (replica_id >= 0)
    uses_topic_ids: bool  # created by a v13+ request: partitions are keyed by topic id
    creation_ms: int
    last_used_ms: int
    epoch: int  # the epoch the next incremental request must carry
    partitions: dict[PartitionKey, CachedPartition]  # in the session's order
    # As of the last touch (Kafka keeps these in its sorted maps):
    cached_size: int = -1  # -1: not in the cache
    evictable_by_all: bool = False
    evictable_by_privileged: bool = False

    def update(self, fetch_data: Mapping[PartitionKey, tuple[PartitionRequest, str | None]],
               forgotten: Iterable[PartitionKey]) -> tuple[list[PartitionKey], list[PartitionKey],
                                                            list[PartitionKey]]:
        """Apply an incremental request: (added, updated, removed)."""
        added: list[PartitionKey] = []
        updated: list[PartitionKey] = []
        removed: list[PartitionKey] = []
        for key, (req, name) in fetch_data.items():
            cached = self.partitions.get(key)
            if cached is None:
                self.partitions[key] = CachedPartition(req, name)
                added.append(key)
            else:
                cached.request = req
                updated.append(key)
        for key in forgotten:
            if self.partitions.pop(key, None) is not None:
                removed.append(key)
        return added, updated, removed

    def evictable_key(self) -> tuple[bool, int, int]:
        """Lower is evicted first: unprivileged before privileged, then fewer partitions, then id."""
        return (self.privileged, self.cached_size, self.id)


class CacheShard:
    """One shard of the cache: at most ``max_entries`` sessions, with ids in [``id_low``, ``id_high``)."""

    __slots__ = ("eviction_ms", "evictions", "id_high", "id_low", "max_entries", "sessions")

    def __init__(self, max_entries: int, eviction_ms: int, id_low: int, id_high: int) -> None:
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self.id_low = max(1, id_low)
        self.id_high = id_high
        self.sessions: dict[SessionId, FetchSession] = {}
        self.evictions = 0

    def new_session_id(self, rng: random.Random) -> SessionId:
        while True:
            sid = SessionId(rng.randrange(self.id_low, self.id_high))
            if sid not in self.sessions and sid != INVALID_SESSION_ID:
                return sid

    def maybe_create(self, now_ms: int, privileged: bool, partitions: dict[PartitionKey, CachedPartition],
                     uses_topic_ids: bool, rng: random.Random) -> SessionId:
        if len(self.sessions) < self.max_entries or self._try_evict(privileged, len(partitions), now_ms):
            session = FetchSession(self.new_session_id(rng), privileged, uses_topic_ids, now_ms, now_ms,
                                   next_epoch(INITIAL_EPOCH), partitions)
            self.sessions[session.id] = session
            self.touch(session, now_ms)
            return session.id
        return INVALID_SESSION_ID

    def _try_evict(self, privileged: bool, size: int, now_ms: int) -> bool:
        if not self.sessions:
            return False
        stalest = min(self.sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now_ms - stalest.last_used_ms > self.eviction_ms:
            self.remove(stalest)
            self.evictions += 1
            return True
        candidates = [s for s in self.sessions.values()
                      if (s.evictable_by_privileged if privileged else s.evictable_by_all)]
        if not candidates:
            return False
        victim = min(candidates, key=FetchSession.evictable_key)
        if (privileged, size, 0) < victim.evictable_key():
            return False
        self.remove(victim)
        self.evictions += 1
        return True

    def remove(self, session: FetchSession) -> FetchSession | None:
        if self.sessions.get(session.id) is not session:
            return None
        del self.sessions[session.id]
        session.cached_size = -1
        return session

    def touch(self, session: FetchSession, now_ms: int) -> None:
        session.last_used_ms = now_ms
        session.cached_size = len(session.partitions)
        old = now_ms - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = (not session.privileged) or old
        session.evictable_by_all = old


class FetchSessionCache:
    """Kafka's sharded fetch session cache (see the module docstring)."""

    __slots__ = ("_next_shard", "rng", "shards")

    def __init__(self, slots: int, eviction_ms: int = MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS,
                 rng: random.Random | None = None, shards: int = NUM_SHARDS) -> None:
        id_range = INT32_MAX // shards
        self.shards = [CacheShard(slots // shards, eviction_ms, n * id_range, (n + 1) * id_range)
                       for n in range(shards)]
        self.rng = rng if rng is not None else random.Random()
        self._next_shard = 0

    def shard_of(self, session_id: int) -> CacheShard | None:
        if session_id <= 0:
            return None
        index = session_id // (INT32_MAX // len(self.shards))
        return self.shards[index] if index < len(self.shards) else None

    def get(self, session_id: int) -> FetchSession | None:
        shard = self.shard_of(session_id)
        return shard.sessions.get(SessionId(session_id)) if shard is not None else None

    def remove(self, session_id: int) -> FetchSession | None:
        session = self.get(session_id)
        shard = self.shard_of(session_id)
        if session is None or shard is None:
            return None
        return shard.remove(session)

    def maybe_create(self, now_ms: int, privileged: bool, partitions: dict[PartitionKey, CachedPartition],
                     uses_topic_ids: bool) -> SessionId:
        shard = self.shards[self._next_shard]
        self._next_shard = (self._next_shard + 1) % len(self.shards)
        return shard.maybe_create(now_ms, privileged, partitions, uses_topic_ids, self.rng)

    def __len__(self) -> int:
        return sum(len(s.sessions) for s in self.shards)

    @property
    def total_partitions(self) -> int:
        return sum(len(x.partitions) for s in self.shards for x in s.sessions.values())

    @property
    def evictions(self) -> int:
        return sum(s.evictions for s in self.shards)


class ContextKind(enum.Enum):
    SESSION_ERROR = "session error"  # answered with a top-level error and no partitions
    SESSIONLESS = "sessionless"  # every partition asked for, session id 0
    FULL = "full"  # every partition asked for; the response may create a session
    INCREMENTAL = "incremental"  # the session's partitions; the response holds those that changed


@dataclass(slots=True)
class FetchContext:
    """What one fetch request is, once its session metadata has been applied."""

    kind: ContextKind
    request_epoch: int
    privileged: bool
    uses_topic_ids: bool
    error: ErrorCode = ErrorCode.NONE
    session: FetchSession | None = None
    # The partitions to read, in order: (key, the topic's name if known, the parameters).
    plan: list[tuple[PartitionKey, str | None, PartitionRequest]] = field(default_factory=list)


def new_context(cache: FetchSessionCache, version: int, session_id: int, epoch: int, privileged: bool,
                fetch_data: Mapping[PartitionKey, tuple[PartitionRequest, str | None]],
                forgotten: Iterable[PartitionKey], now_ms: int) -> FetchContext:
    """Apply a request's session metadata to the cache (Kafka's ``FetchManager.newContext``)."""
    uses_ids = version >= FIRST_TOPIC_ID_VERSION
    request_plan = [(key, name, req) for key, (req, name) in fetch_data.items()]
    if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
        if session_id != INVALID_SESSION_ID:
            cache.remove(session_id)
        kind = ContextKind.SESSIONLESS if epoch == FINAL_EPOCH else ContextKind.FULL
        return FetchContext(kind, epoch, privileged, uses_ids, plan=request_plan)
    session = cache.get(session_id)
    if session is None:
        return FetchContext(ContextKind.SESSION_ERROR, epoch, privileged, uses_ids,
                            ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
    if session.epoch != epoch:
        return FetchContext(ContextKind.SESSION_ERROR, epoch, privileged, uses_ids,
                            ErrorCode.INVALID_FETCH_SESSION_EPOCH)
    if session.uses_topic_ids != uses_ids:
        return FetchContext(ContextKind.SESSION_ERROR, epoch, privileged, uses_ids,
                            ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
    session.update(fetch_data, forgotten)
    shard = cache.shard_of(session.id)
    assert shard is not None
    if not session.partitions:
        shard.remove(session)
        return FetchContext(ContextKind.SESSIONLESS, epoch, privileged, uses_ids, plan=request_plan)
    shard.touch(session, now_ms)
    session.epoch = next_epoch(session.epoch)
    plan = [(key, cached.topic_name, cached.request) for key, cached in session.partitions.items()]
    return FetchContext(ContextKind.INCREMENTAL, epoch, privileged, uses_ids, session=session, plan=plan)


def resolve_name(context: FetchContext, key: PartitionKey, name: str | None) -> None:
    """Remember the name a session's topic id resolved to, the first time it resolves."""
    session = context.session
    if session is not None and name is not None:
        cached = session.partitions.get(key)
        if cached is not None and cached.topic_name is None:
            cached.topic_name = name


def respond(cache: FetchSessionCache, context: FetchContext,
            replies: list[tuple[PartitionKey, PartitionReply]],
            now_ms: int) -> tuple[ErrorCode, SessionId, list[PartitionKey]]:
    """Finish a request: (top-level error, the response's session id, the partitions to send)."""
    kind = context.kind
    if kind is ContextKind.SESSION_ERROR:
        return context.error, INVALID_SESSION_ID, []
    if kind is ContextKind.SESSIONLESS:
        return ErrorCode.NONE, INVALID_SESSION_ID, [key for key, _r in replies]
    if kind is ContextKind.FULL:
        requests = {key: (req, name) for key, name, req in context.plan}
        partitions: dict[PartitionKey, CachedPartition] = {}
        for key, reply in replies:
            req, name = requests[key]
            partitions[key] = CachedPartition(req, name, reply.high_watermark, reply.last_stable_offset,
                                              reply.log_start_offset)
        sid = cache.maybe_create(now_ms, context.privileged, partitions, context.uses_topic_ids)
        return ErrorCode.NONE, sid, [key for key, _r in replies]
    session = context.session
    assert session is not None
    if session.epoch != next_epoch(context.request_epoch):  # a later request used the session meanwhile
        return ErrorCode.INVALID_FETCH_SESSION_EPOCH, session.id, []
    kept: list[PartitionKey] = []
    for key, reply in replies:
        cached = session.partitions.get(key)
        if cached is None:  # forgotten by a later request: nothing to say about it
            continue
        if cached.must_respond(reply, update=True):
            kept.append(key)
            if reply.records_size > 0:  # to the back of the line
                del session.partitions[key]
                session.partitions[key] = cached
    return ErrorCode.NONE, session.id, kept
