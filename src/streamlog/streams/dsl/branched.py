"""`BranchedStream`: Kafka Streams' ``split()``, records routed to the first branch that matches.

Theory of operation: `split(named)` adds the splitter node at once (named `named`, or a generated
``KSTREAM-BRANCH-...``); each `branch(predicate, name=)` adds a pass-through child node named
``<splitter><name>``, or ``<splitter><position>`` with positions counted from 1; `default_branch`
adds the child for records no predicate matched (``<splitter>0`` when unnamed).  The returned dict
maps those child names to their streams, as Kafka Streams' map does (so ``split("s-")`` with
branches "a" and "b" gives keys ``s-a`` and ``s-b``).  Every branch keeps the parent's serdes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlog.streams.dsl.common import DslContext, check_callable
from streamlog.streams.dsl.stream import Stream
from streamlog.streams.errors import TopologyError
from streamlog.streams.processors import stateless
from streamlog.streams.topology import naming


class BranchedStream:
    def __init__(self, dsl: DslContext, stream: Stream, named: str | None) -> None:
        if named is not None and (not isinstance(named, str) or not named):
            raise ValueError(f"split(named=) must be a non-empty string, got {named!r}")
        self._dsl = dsl
        self._stream = stream
        self._splitter = named or dsl.names.processor(naming.BRANCH)
        predicates: list[Callable[[Any, Any], bool]] = []
        children: list[str] = []
        self._predicates = predicates
        self._children = children
        self._branches: dict[str, Stream] = {}
        self._finished = False
        dsl.builder.add_processor(self._splitter, (stream.name,),
                                  lambda: stateless.Branch(predicates, children))

    def branch(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> BranchedStream:
        check_callable("predicate", predicate)
        self._check_open()
        self._predicates.append(predicate)
        self._add_child(name, len(self._predicates))
        return self

    def default_branch(self, name: str | None = None) -> dict[str, Stream]:
        self._check_open()
        self._add_child(name, 0)
        self._finished = True
        return dict(self._branches)

    def no_default_branch(self) -> dict[str, Stream]:
        self._check_open()
        self._finished = True
        return dict(self._branches)

    def _check_open(self) -> None:
        if self._finished:
            raise TopologyError("this split() is finished (default_branch or no_default_branch was called)")

    def _add_child(self, name: str | None, index: int) -> None:
        child = self._splitter + (str(index) if name is None else name)
        self._dsl.names.burn()  # Kafka Streams draws a processor name per branch and drops it
        self._dsl.builder.add_processor(child, (self._splitter,), stateless.PassThrough)
        self._children.append(child)
        source = self._stream
        self._branches[child] = Stream(self._dsl, child, source.key_serde, source.value_serde,
                                       source.repartition_required)
