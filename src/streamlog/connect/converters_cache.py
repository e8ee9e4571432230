"""What converters compute once per Connect schema (writers, schema texts, registered ids), kept for the
next records.

Theory of operation: a `Schema` with parameters or a default is not hashable (its mappings are dicts),
and hashing a deep one for every record would cost about as much as the work saved, so entries are
found first by the identity of the schema object: sources that keep one schema per table (Debezium's
way) hit that every time.  The entry holds the schema object, so its id is not reused while the entry
lives.  A schema object not seen before is looked up by a structural key (every attribute, defaults by
their ``repr``), so a source that builds an equal schema for every record pays one walk of the schema,
not the full computation.  Both maps drop their oldest entries past ``size``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from streamlog.connect.data import Schema

T = TypeVar("T")


def schema_key(schema: Schema) -> Hashable:
    """A hashable key that is equal for equal schemas (parameters in their order)."""
    return (schema.type, schema.optional, schema.name, schema.version, schema.doc,
            None if schema.parameters is None else tuple(schema.parameters.items()),
            None if schema.default is None else repr(schema.default),
            tuple((field.name, schema_key(field.schema)) for field in schema.fields),
            None if schema.items is None else schema_key(schema.items),
            None if schema.keys is None else schema_key(schema.keys),
            None if schema.values is None else schema_key(schema.values))


class SchemaCache(Generic[T]):
    """Values computed from schemas, by schema identity, then by structure."""

    def __init__(self, size: int = 1000) -> None:
        self.size = max(size, 1)
        self.by_id: OrderedDict[int, tuple[Schema, T]] = OrderedDict()
        self.by_key: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, schema: Schema, make: Callable[[Schema], T]) -> T:
        entry = self.by_id.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
        key = schema_key(schema)
        if key in self.by_key:
            value = self.by_key[key]
        else:
            value = make(schema)
            self.by_key[key] = value
            if len(self.by_key) > self.size:
                self.by_key.popitem(last=False)
        self.by_id[id(schema)] = (schema, value)
        if len(self.by_id) > self.size:
            self.by_id.popitem(last=False)
        return value
