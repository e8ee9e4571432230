"""Which partitions one Fetch request reads, and how its response is addressed and filtered.

Theory of operation.  Between the decoded request and the Fetch handler's reading loop
(``handlers/fetch.py``) stand two things this module owns: topic ids (Fetch v13+ names topics by id)
and fetch sessions (KIP-227, the pure cache in ``fetch_sessions.py``).  ``FetchPlan.open`` applies
the request's session metadata to the cache and lists the partitions to read as the handler expects
them (``topics``: ``[{"topic": name, "partitions": [...]}]``, consecutive partitions of one topic
grouped): the request's partitions, or, in an incremental session, every partition of the session
in the session's order.  Partitions that cannot be read at all are answered here:

* a topic id we do not know: UNKNOWN_TOPIC_ID;
* a session's topic id whose name was resolved earlier, when a topic of that name now has another
  id (deleted and created again): INCONSISTENT_TOPIC_ID, as Kafka's replica manager answers;
* (a known topic without that partition, a deleted topic known by name: the handler's
  UNKNOWN_TOPIC_OR_PARTITION.)

``FetchPlan.respond`` is called once, with what the handler read: it lets the session decide
the response's session id and which partitions an incremental response carries, adds the topic ids
(v13+), and for v16+ names this broker as the leader (``current_leader`` + ``node_endpoints``) of
partitions answered FENCED_LEADER_EPOCH, as Kafka does for its leader-change errors (KIP-951).
A request whose session metadata fails (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
FETCH_SESSION_TOPIC_ID_ERROR) gets ``error_response`` at once, with no partitions.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from streamlog.broker import fetch_sessions as fs
from streamlog.broker.fetch_sessions import ContextKind, PartitionKey, PartitionReply, PartitionRequest
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.metadata import broker_entry
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.primitives import ZERO_UUID

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

_LEADER_ERRORS = (int(ErrorCode.FENCED_LEADER_EPOCH), int(ErrorCode.NOT_LEADER_OR_FOLLOWER))


def _replica_id(body: Msg, version: int) -> int:
    if version <= 14:
        return int(body.get("replica_id", -1))
    state = body.get("replica_state") or {}
    return int(state.get("replica_id", -1))


def _error_entry(index: int, code: ErrorCode) -> Msg:
    return {"partition_index": index, "error_code": int(code), "high_watermark": -1,
            "last_stable_offset": -1, "log_start_offset": -1, "aborted_transactions": None,
            "preferred_read_replica": -1, "records": b""}


class FetchPlan:
    __slots__ = ("broker", "context", "errors", "keys", "request", "topics", "uses_ids")

    def __init__(self, broker: Broker, request: RequestContext, context: fs.FetchContext) -> None:
        self.broker = broker
        self.request = request
        self.context = context
        self.uses_ids = context.uses_topic_ids
        self.topics: list[Msg] = []  # what the handler reads, in order
        self.keys: list[list[PartitionKey]] = []  # the session key of each partition in ``topics``
        self.errors: list[tuple[PartitionKey, ErrorCode]] = []  # answered without reading

    @classmethod
    def open(cls, broker: Broker, request: RequestContext, body: Msg) -> FetchPlan:
        version = request.api_version
        uses_ids = version >= fs.FIRST_TOPIC_ID_VERSION
        fetch_data: dict[PartitionKey, tuple[PartitionRequest, str | None]] = {}
        for topic in body["topics"]:
            ref: fs.TopicRef
            if uses_ids:
                topic_id: uuid.UUID = topic["topic_id"]
                found = broker.topics.readable_topic_by_id(topic_id)  # internal topics too
                ref, name = topic_id, (found.name if found is not None else None)
            else:
                ref = name = topic["topic"]
            for p in topic["partitions"]:
                fetch_data[(ref, int(p["partition"]))] = (PartitionRequest(
                    int(p["fetch_offset"]), int(p["partition_max_bytes"]),
                    int(p.get("current_leader_epoch", -1)), int(p.get("last_fetched_epoch", -1)),
                    int(p.get("log_start_offset", -1))), name)
        forgotten: list[PartitionKey] = [
            (t["topic_id"] if uses_ids else t["topic"], int(index))
            for t in body.get("forgotten_topics_data") or () for index in t["partitions"]]
        context = fs.new_context(broker.fetch_sessions, version, int(body.get("session_id", 0)),
                                 int(body.get("session_epoch", fs.FINAL_EPOCH)),
                                 _replica_id(body, version) >= 0, fetch_data, forgotten,
                                 broker.clock.now_ms())
        if context.kind is ContextKind.SESSION_ERROR:
            log.info("fetch from %s: session %s epoch %s: %s", request.peer, body.get("session_id"),
                     body.get("session_epoch"), context.error.name)
        plan = cls(broker, request, context)
        plan._lay_out()
        return plan

    def _lay_out(self) -> None:
        topics = self.broker.topics
        last_ref: Any = None
        for key, name, req in self.context.plan:
            ref, index = key
            if self.uses_ids:
                assert isinstance(ref, uuid.UUID)
                if name is None:
                    found = topics.readable_topic_by_id(ref)
                    if found is not None:
                        name = found.name
                        fs.resolve_name(self.context, key, name)
                if name is None:
                    self.errors.append((key, ErrorCode.UNKNOWN_TOPIC_ID))
                    continue
                current = topics.readable_topic(name)
                if current is not None and current.topic_id != ref:
                    self.errors.append((key, ErrorCode.INCONSISTENT_TOPIC_ID))
                    continue
            assert name is not None
            if ref != last_ref or not self.topics:
                self.topics.append({"topic": name, "partitions": []})
                self.keys.append([])
                last_ref = ref
            self.topics[-1]["partitions"].append({
                "partition": index, "fetch_offset": req.fetch_offset,
                "partition_max_bytes": req.partition_max_bytes,
                "current_leader_epoch": req.current_leader_epoch})
            self.keys[-1].append(key)

    def error_response(self) -> Msg | None:
        """The immediate answer to a request whose session metadata failed, else None."""
        if self.context.kind is not ContextKind.SESSION_ERROR:
            return None
        return {"throttle_time_ms": 0, "error_code": int(self.context.error),
                "session_id": fs.INVALID_SESSION_ID, "responses": []}

    def respond(self, responses: list[Msg]) -> Msg:
        """The response, from what the handler read (``responses`` is aligned with ``topics``)."""
        context = self.context
        if context.kind is ContextKind.SESSIONLESS:  # every partition, in order: nothing to filter
            if self.uses_ids:
                for topic_out, keys in zip(responses, self.keys, strict=True):
                    topic_out["topic_id"] = keys[0][0]
            responses.extend(self._error_topics(self.errors))
            return self._finish(ErrorCode.NONE, fs.INVALID_SESSION_ID, responses)
        entries: dict[PartitionKey, tuple[str, Msg]] = {}
        replies: list[tuple[PartitionKey, PartitionReply]] = []
        for topic_out, keys in zip(responses, self.keys, strict=True):
            name = topic_out["topic"]
            for key, entry in zip(keys, topic_out["partitions"], strict=True):
                entries[key] = (name, entry)
                replies.append((key, _reply(entry)))
        for key, code in self.errors:
            entry = _error_entry(key[1], code)
            entries[key] = ("", entry)
            replies.append((key, _reply(entry)))
        error, session_id, kept = fs.respond(self.broker.fetch_sessions, context, replies,
                                             self.broker.clock.now_ms())
        out: list[Msg] = []
        last_ref: Any = None
        for key in kept:
            name, entry = entries[key]
            if key[0] != last_ref or not out:
                out.append({"topic": name if not self.uses_ids else "",
                            "topic_id": key[0] if self.uses_ids else ZERO_UUID, "partitions": []})
                last_ref = key[0]
            out[-1]["partitions"].append(entry)
        return self._finish(error, session_id, out)

    def _error_topics(self, errors: list[tuple[PartitionKey, ErrorCode]]) -> list[Msg]:
        out: list[Msg] = []
        for key, code in errors:
            if not out or out[-1]["topic_id"] != key[0]:
                out.append({"topic": "", "topic_id": key[0], "partitions": []})
            out[-1]["partitions"].append(_error_entry(key[1], code))
        return out

    def _finish(self, error: ErrorCode, session_id: int, out: list[Msg]) -> Msg:
        body: dict[str, Any] = {"throttle_time_ms": 0, "error_code": int(error), "session_id": session_id,
                                "responses": out}
        if self.request.api_version >= 16:
            self._name_leaders(body)
        return body

    def _name_leaders(self, body: dict[str, Any]) -> None:
        """KIP-951: partitions answered with a leader error name the leader, and the response its
        address."""
        named = False
        for topic_out in body["responses"]:
            for entry in topic_out["partitions"]:
                if entry["error_code"] not in _LEADER_ERRORS:
                    continue
                found = self.broker.topics.readable_topic_by_id(topic_out["topic_id"])
                part = None
                if found is not None and 0 <= entry["partition_index"] < len(found.partitions):
                    part = found.partitions[entry["partition_index"]]
                if part is None:
                    continue
                entry["current_leader"] = {"leader_id": self.broker.node_id,
                                           "leader_epoch": part.leader_epoch}
                named = True
        if named:
            body["node_endpoints"] = [broker_entry(self.broker, self.request)]


def _reply(entry: Msg) -> PartitionReply:
    records = entry.get("records")
    return PartitionReply(int(entry["error_code"]), int(entry["high_watermark"]),
                          int(entry["last_stable_offset"]), int(entry["log_start_offset"]),
                          len(records) if records is not None else 0)
