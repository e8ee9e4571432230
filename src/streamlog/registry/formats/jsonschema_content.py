# Theory of operation: the object and array keywords of the JSON Schema compatibility walk
# (jsonschema_diff.py).  `ContentModels` is a base class of the walk's checker: `_objects` and
# `_arrays` are called for each pair of nodes whose old side may be an object or an array, and call
# back into the walk (`compare`, `emit`, `fits`) for the subschemas they pair up.
#
# Objects: properties declared on both sides are compared; properties added or removed are judged
# by content model (below); then `required`, additionalProperties/unevaluatedProperties,
# patternProperties, schema dependencies and propertyNames.  Arrays: prefix items (compared by
# position, added or removed ones by content model), the rest of the items, and `contains`.
#
# Content models: for a property name a schema does not declare, `_slot` says what it allows:
# True (open: anything), False (closed: nothing) or the subschemas that apply (partially open:
# matching patternProperties, else additionalProperties).  Properties added to the reader are
# judged against the writer's slot (the writer may already have produced that name); properties
# removed are judged against the reader's slot.  Arrays work the same with prefix items and the
# "rest" schema (additionalItems / items after prefixItems).  "Covered" means a trial comparison
# of the two schemas is compatible (`fits`).
"""Object and array content models in the JSON Schema compatibility walk."""

from __future__ import annotations

import re

from streamlog.registry.formats.jsonschema_keywords import Json, dependencies, escape, is_empty
from streamlog.registry.formats.jsonschema_node import Node, settle


def _slot(node: Node, name: str) -> bool | list[Node]:
    """What `node` allows for an undeclared property `name`: anything, nothing, or these schemas."""
    schema = node.schema
    matching = []
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        try:
            hit = re.search(pattern, name) is not None
        except re.error:
            hit = False
        if hit:
            matching.append(node.child(f"/patternProperties/{escape(pattern)}", sub))
    if matching:
        kept = [m for m in matching if not is_empty(m.schema)]
        return kept or True
    extra = _extra(node, "additionalProperties", "unevaluatedProperties")
    return extra if isinstance(extra, bool) else [extra]


def _extra(node: Node, *keywords: str) -> bool | Node:
    """The first present keyword of `keywords` as True (absent or empty), False or a node."""
    for keyword in keywords:
        sub = node.get(keyword)
        if sub is not None:
            if sub.schema is False:
                return False
            return True if is_empty(sub.schema) else sub
    return True


def _array_shape(node: Node) -> tuple[list[Node], bool | Node, str]:
    """(prefix item schemas, the schema of the remaining items, the reader keyword for the rest)."""
    schema = node.schema
    items = schema.get("items")
    if node.draft >= 2020 and isinstance(schema.get("prefixItems"), list):
        prefix = [node.child(f"/prefixItems/{i}", s) for i, s in enumerate(schema["prefixItems"])]
        return prefix, _extra(node, "items", "unevaluatedItems"), "items"
    if isinstance(items, list):
        prefix = [node.child(f"/items/{i}", s) for i, s in enumerate(items)]
        return prefix, _extra(node, "additionalItems", "unevaluatedItems"), "additionalItems"
    return [], _extra(node, "items", "unevaluatedItems"), "items"


class ContentModels:
    """Objects and arrays; the walk's checker supplies `emit`, `compare` and `fits`."""

    def emit(self, kind: str, path: str, description: str) -> None:
        raise NotImplementedError

    def compare(self, writer: Node, reader: Node) -> None:
        raise NotImplementedError

    def fits(self, writer: Node, reader: Node) -> bool:
        raise NotImplementedError

    # -- objects ----------------------------------------------------------------------------------

    def _objects(self, w: Node, r: Node) -> None:
        ws, rs = w.schema, r.schema
        wprops, rprops = ws.get("properties") or {}, rs.get("properties") or {}
        wreq, rreq = set(ws.get("required") or ()), list(rs.get("required") or ())
        judged: set[str] = set()
        for name, sub in rprops.items():
            node = r.child(f"/properties/{escape(name)}", sub)
            if name in wprops:
                self.compare(w.child(f"/properties/{escape(name)}", wprops[name]), node)
            elif self._property_added(w, node, name, name in rreq):
                judged.add(name)
        for name, sub in wprops.items():
            if name not in rprops:
                self._property_removed(w.child(f"/properties/{escape(name)}", sub), r, name)
        for name in rreq:
            if name not in wreq and name not in judged:
                prop = rprops.get(name)
                settled = settle(r.child(f"/properties/{escape(name)}", prop)) if prop is not None else None
                if settled is not None and isinstance(settled.schema, dict) and "default" in settled.schema:
                    self.emit("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", f"{r.path}/required",
                              f"property {name!r} is now required but has a default")
                else:
                    self.emit("REQUIRED_ATTRIBUTE_ADDED", f"{r.path}/required",
                              f"property {name!r} is now required")
        for name in sorted(wreq - set(rreq)):
            self.emit("REQUIRED_ATTRIBUTE_REMOVED", f"{r.path}/required",
                      f"property {name!r} is no longer required")
        self._extra_compare(w, r, ("additionalProperties", "unevaluatedProperties"), "ADDITIONAL_PROPERTIES",
                            "additional properties")
        self._patterns(w, r)
        self._dependency_schemas(w, r)
        self._optional_subschema(w, r, "propertyNames", "PROPERTY_NAMES")

    def _property_added(self, w: Node, node: Node, name: str, required: bool) -> bool:
        """Judge a property only the reader declares; True when its being required was judged too."""
        slot = _slot(w, name)
        settled = settle(node)
        default = isinstance(settled.schema, dict) and "default" in settled.schema
        where = f"property {name!r} was added"
        if slot is True:
            if is_empty(settled.schema):
                self.emit("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", node.path, where)
                return False
            self.emit("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", node.path,
                      f"{where} to an open content model, where old data may hold any value under that name")
            return True
        if required:
            kind = ("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL" if default
                    else "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
            self.emit(kind, node.path, f"{where} as required{' with a default' if default else ''}")
            return True
        if slot is False:
            self.emit("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", node.path, f"{where} as optional")
        elif any(self.fits(s, node) for s in slot):
            self.emit("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", node.path,
                      f"{where} and accepts what the old additional/pattern properties allowed")
        else:
            self.emit("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", node.path,
                      f"{where} but rejects values the old additional/pattern properties allowed")
        return True

    def _property_removed(self, wnode: Node, r: Node, name: str) -> None:
        slot = _slot(r, name)
        path = f"{r.path}/properties/{escape(name)}"
        where = f"property {name!r} was removed"
        if slot is True:
            self.emit("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", path, f"{where} from an open content model")
        elif slot is False:
            if settle(wnode).schema is False:
                self.emit("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", path, where)
            else:
                self.emit("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", path,
                          f"{where} from a closed content model, which now rejects it in old data")
        elif all(self.fits(wnode, s) for s in slot):
            self.emit("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path,
                      f"{where} and the new additional/pattern properties accept its old values")
        else:
            self.emit("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path,
                      f"{where} and the new additional/pattern properties reject some of its old values")

    def _extra_compare(self, w: Node, r: Node, keywords: tuple[str, ...], prefix: str, what: str) -> None:
        """additionalProperties / additionalItems: true -> false REMOVED, false -> true ADDED, ..."""
        self._rest_compare(_extra(w, *keywords), _extra(r, *keywords), self._extra_path(r, keywords),
                           prefix, what)

    @staticmethod
    def _extra_path(r: Node, keywords: tuple[str, ...]) -> str:
        present = [k for k in keywords if isinstance(r.schema, dict) and k in r.schema]
        return f"{r.path}/{(present or keywords)[0]}"

    def _rest_compare(self, old: bool | Node, new: bool | Node, path: str, prefix: str, what: str) -> None:
        if old is False or old is new:
            if old is False and new is not False:
                added = "ADDED" if new is True else "EXTENDED"
                self.emit(f"{prefix}_{added}", path, f"{what} are now allowed")
            return
        if isinstance(old, Node) and isinstance(new, Node):
            self.compare(old, new)
        elif new is False:
            self.emit(f"{prefix}_REMOVED" if old is True else f"{prefix}_NARROWED", path,
                      f"{what} are no longer allowed")
        elif new is True:
            self.emit(f"{prefix}_EXTENDED", path, f"{what} are no longer constrained")
        else:
            self.emit(f"{prefix}_NARROWED", path, f"{what} are now constrained by a schema")

    def _patterns(self, w: Node, r: Node) -> None:
        wpat, rpat = w.schema.get("patternProperties") or {}, r.schema.get("patternProperties") or {}
        wprops = w.schema.get("properties") or {}
        for pattern, sub in rpat.items():
            node = r.child(f"/patternProperties/{escape(pattern)}", sub)
            if pattern in wpat:
                self.compare(w.child(f"/patternProperties/{escape(pattern)}", wpat[pattern]), node)
                continue
            if is_empty(sub):
                continue
            sources: list[bool | Node] = [w.child(f"/properties/{escape(n)}", s) for n, s in wprops.items()
                                          if _matches(pattern, n)]
            sources += [w.child(f"/patternProperties/{escape(p)}", s) for p, s in wpat.items()]
            sources.append(_extra(w, "additionalProperties", "unevaluatedProperties"))
            if not all(s is False or (isinstance(s, Node) and self.fits(s, node)) for s in sources):
                self.emit("ADDITIONAL_PROPERTIES_NARROWED", node.path,
                          f"pattern property {pattern!r} was added and constrains values old data may hold")
        for pattern, sub in wpat.items():
            if pattern in rpat:
                continue
            old = w.child(f"/patternProperties/{escape(pattern)}", sub)
            targets: list[bool | Node] = [r.child(f"/patternProperties/{escape(p)}", s)
                                          for p, s in rpat.items()]
            targets.append(_extra(r, "additionalProperties", "unevaluatedProperties"))
            path = f"{r.path}/patternProperties/{escape(pattern)}"
            if all(t is True or (isinstance(t, Node) and self.fits(old, t)) for t in targets):
                self.emit("ADDITIONAL_PROPERTIES_EXTENDED", path, f"pattern property {pattern!r} was removed")
            else:
                self.emit("ADDITIONAL_PROPERTIES_NARROWED", path,
                          f"pattern property {pattern!r} was removed; its names now meet stricter rules")

    def _dependency_schemas(self, w: Node, r: Node) -> None:
        old, new = dependencies(w.schema)[1], dependencies(r.schema)[1]
        for key, suffix in new.items():
            node = r.child(suffix, _at(r.schema, suffix))
            if key in old:
                self.compare(w.child(old[key], _at(w.schema, old[key])), node)
            else:
                self.emit("DEPENDENCY_SCHEMA_ADDED", node.path, f"a schema dependency on {key!r} was added")
        for key, suffix in old.items():
            if key not in new:
                self.emit("DEPENDENCY_SCHEMA_REMOVED", r.path + suffix,
                          f"the schema dependency on {key!r} was removed")

    def _optional_subschema(self, w: Node, r: Node, keyword: str, prefix: str) -> None:
        old, new = w.get(keyword), r.get(keyword)
        if old is not None and new is not None:
            self.compare(old, new)
        elif new is not None and not is_empty(new.schema):
            self.emit(f"{prefix}_ADDED", new.path, f"{keyword} was added")
        elif old is not None and new is None and not is_empty(old.schema):
            self.emit(f"{prefix}_REMOVED", f"{r.path}/{keyword}", f"{keyword} was removed")

    # -- arrays -----------------------------------------------------------------------------------

    def _arrays(self, w: Node, r: Node) -> None:
        wpre, wrest, _ = _array_shape(w)
        rpre, rrest, rkey = _array_shape(r)
        prefix_key = "prefixItems" if r.draft >= 2020 else "items"
        for i in range(max(len(wpre), len(rpre))):
            if i < len(wpre) and i < len(rpre):
                self.compare(wpre[i], rpre[i])
            elif i < len(rpre):
                self._item_added(wrest, rpre[i], i)
            else:
                self._item_removed(wpre[i], rrest, f"{r.path}/{prefix_key}/{i}", i)
        self._rest_compare(wrest, rrest, f"{r.path}/{rkey}", "ADDITIONAL_ITEMS", "further items")
        self._optional_subschema(w, r, "contains", "CONTAINS")

    def _item_added(self, slot: bool | Node, node: Node, i: int) -> None:
        where = f"item {i} was added"
        if slot is True:
            if is_empty(settle(node).schema):
                self.emit("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", node.path, where)
            else:
                self.emit("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", node.path,
                          f"{where} where old arrays allowed anything")
        elif slot is False:
            self.emit("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", node.path, f"{where} past the old arrays' end")
        elif self.fits(slot, node):
            self.emit("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", node.path, where)
        else:
            self.emit("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", node.path,
                      f"{where} and rejects values the old additional items allowed")

    def _item_removed(self, node: Node, slot: bool | Node, path: str, i: int) -> None:
        where = f"item {i} was removed"
        if slot is True:
            self.emit("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", path, where)
        elif slot is False:
            if settle(node).schema is False:
                self.emit("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", path, where)
            else:
                self.emit("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", path,
                          f"{where} and old arrays had one there")
        elif self.fits(node, slot):
            self.emit("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path, where)
        else:
            self.emit("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path,
                      f"{where} and the new additional items reject its old values")


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True


def _at(schema: Json, suffix: str) -> Json:
    """The value at a two-token pointer suffix such as /dependencies/a~1b."""
    _, keyword, token = suffix.split("/", 2)
    return schema[keyword][token.replace("~1", "/").replace("~0", "~")]
