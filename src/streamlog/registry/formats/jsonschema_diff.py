# Theory of operation: Confluent-style rule-based diff of two JSON Schemas, writer (old) against
# reader (new).  The question is always "does the reader accept every document the writer
# accepted?"; each finding is a named `Difference` whose compatibility is looked up in
# jsonschema_rules.RULES, and `backward_problems` keeps the incompatible ones.
#
# The walk (`_Checker.compare`) takes one `Node` per side: a subschema, the `referencing` resolver
# in scope there (for `$ref` and `$id`), the draft, and the JSON pointer of the node.  At each pair:
#
# 1. settle both: follow `$ref` (in drafts 4-7 siblings of `$ref` are ignored; from 2019-09 a `$ref`
#    with siblings acts as one more `allOf` branch), unwrap a combination with a single branch.
# 2. a pair seen before is not compared again: recursive schemas terminate (coinduction: a pair
#    in progress is assumed compatible; anything wrong with it is reported where it was first met).
# 3. writer `false` accepts nothing: compatible.  Reader `true`/`{}` accepts everything.
# 4. a pure combination (`oneOf`/`anyOf`/`allOf` and nothing else) against a plain schema is
#    distributed: every writer alternative must fit the reader; the writer must fit some reader
#    alternative; a reader conjunction needs every branch to accept the writer.
# 5. otherwise keyword groups are compared independently: scalars (types, enum/const, bounds;
#    jsonschema_keywords), objects (properties by content model, required, additional/pattern/
#    unevaluated properties, dependencies, propertyNames), arrays (prefix items by content model,
#    additional items, contains), combinations (branch matching), `not` (roles swapped), if/then/else.
#
# Content models: for a property name a schema does not declare, `_slot` says what it allows:
# True (open: anything), False (closed: nothing) or the subschemas that apply (partially open:
# matching patternProperties, else additionalProperties).  Properties added to the reader are
# judged against the writer's slot (the writer may already have produced that name); properties
# removed are judged against the reader's slot.  Arrays work the same with prefix items and the
# "rest" schema (additionalItems / items after prefixItems).  "Covered" means a trial comparison
# of the two schemas is compatible.  Trials run in a child checker that shares the pairs seen.
"""The JSON Schema compatibility walk: writer (old) against reader (new)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from referencing.jsonschema import DRAFT4, DRAFT6, DRAFT7, DRAFT201909, DRAFT202012

from streamlog.registry.formats.jsonschema_keywords import (
    ANNOTATIONS,
    Json,
    dependencies,
    dump,
    escape,
    is_empty,
    may_be,
    scalar_differences,
    type_set,
)
from streamlog.registry.formats.jsonschema_rules import RULES, Difference

if TYPE_CHECKING:
    from referencing._core import Resolver

SPECS: dict[int, Any] = {4: DRAFT4, 6: DRAFT6, 7: DRAFT7, 2019: DRAFT201909, 2020: DRAFT202012}
COMBINERS = ("allOf", "anyOf", "oneOf")
_SAID = {"SUM_TYPE_EXTENDED": "the old schema is now one alternative among several",
         "PRODUCT_TYPE_NARROWED": "one of the old allOf branches alone already satisfies the new schema"}
_NOTED = {"$id": "ID_CHANGED", "id": "ID_CHANGED", "title": "TITLE_CHANGED",
          "description": "DESCRIPTION_CHANGED", "default": "DEFAULT_CHANGED"}


@dataclass(frozen=True, slots=True)
class Node:
    """One subschema as the walk sees it."""

    schema: Json
    resolver: Resolver[Any]
    draft: int
    path: str
    drafts: Mapping[int, int]  # id(subschema) -> draft of the document holding it

    def child(self, suffix: str, schema: Json) -> Node:
        resolver = self.resolver
        key = "id" if self.draft == 4 else "$id"
        if isinstance(schema, dict) and isinstance(schema.get(key), str):
            resolver = resolver.in_subresource(SPECS[self.draft].create_resource(schema))
        return Node(schema, resolver, self.draft, self.path + suffix, self.drafts)

    def get(self, keyword: str) -> Node | None:
        if isinstance(self.schema, dict) and keyword in self.schema:
            return self.child(f"/{keyword}", self.schema[keyword])
        return None

    def follow(self) -> Node:
        ref: str = self.schema["$ref"]
        resolved = self.resolver.lookup(ref)
        path = ref if "#" in ref else ref + "#"
        draft = self.drafts.get(id(resolved.contents), self.draft)
        return Node(resolved.contents, resolved.resolver, draft, path, self.drafts)


def differences(writer: Node, reader: Node) -> list[Difference]:
    """Every named difference from writer (old) to reader (new)."""
    checker = _Checker(set())
    checker.compare(writer, reader)
    return checker.out


def _compatible(found: list[Difference]) -> bool:
    return all(RULES[d.kind] for d in found)


def _settle(node: Node) -> Node:
    for _ in range(64):  # a chain of $ref to $ref; a cycle of bare $refs stops here
        schema = node.schema
        if not isinstance(schema, dict):
            return node
        if isinstance(schema.get("$ref"), str):
            if node.draft >= 2019 and set(schema) - ANNOTATIONS - {"$ref"}:
                return node
            node = node.follow()
            continue
        kind = _pure_kind(schema)
        if kind and len(schema[kind]) == 1:
            node = node.child(f"/{kind}/0", schema[kind][0])
            continue
        return node
    return node


def _pure_kind(schema: Json) -> str | None:
    """The combiner of a schema that is one combination and nothing else."""
    if not isinstance(schema, dict):
        return None
    rest = set(schema) - ANNOTATIONS
    if len(rest) == 1:
        (kind,) = rest
        if kind in COMBINERS and isinstance(schema[kind], list) and schema[kind]:
            return str(kind)
    return None


def _branches(node: Node, kind: str) -> list[Node]:
    schema = node.schema
    found = [node.child(f"/{kind}/{i}", sub) for i, sub in enumerate(schema.get(kind) or [])]
    if kind == "allOf" and isinstance(schema.get("$ref"), str):  # 2019-09+: $ref beside siblings
        found.insert(0, node.follow())
    return found


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


class _Checker:
    def __init__(self, seen: set[tuple[int, int]]) -> None:
        self.seen = seen
        self.out: list[Difference] = []

    def emit(self, kind: str, path: str, description: str) -> None:
        self.out.append(Difference(kind, path, description))

    def trial(self, writer: Node, reader: Node) -> list[Difference]:
        child = _Checker(set(self.seen))
        child.compare(writer, reader)
        return child.out

    def fits(self, writer: Node, reader: Node) -> bool:
        return _compatible(self.trial(writer, reader))

    # -- the walk ---------------------------------------------------------------------------------

    def compare(self, writer: Node, reader: Node) -> None:
        w, r = _settle(writer), _settle(reader)
        if w.schema is False or (is_empty(r.schema) and is_empty(w.schema)):
            return
        key = (id(w.schema), id(r.schema))
        if key in self.seen:
            return
        self.seen.add(key)
        if is_empty(r.schema):
            self.emit("TYPE_EXTENDED", r.path, "the new schema accepts any value")
            return
        if r.schema is False:
            self.emit("TYPE_NARROWED", r.path, "the new schema is false and accepts no value")
            return
        if w.schema is True:
            w = replace(w, schema={})
        self._annotations(w, r)
        if self._distributed(w, r):
            return
        ws, rs = w.schema, r.schema
        for kind, keyword, description in scalar_differences(ws, rs):
            self.emit(kind, f"{r.path}/{keyword}", description)
        old_types = type_set(ws)
        if may_be(old_types, "object"):
            self._objects(w, r)
        if may_be(old_types, "array"):
            self._arrays(w, r)
        self._combinations(w, r)
        self._not(w, r)
        self._conditional(w, r)

    def _annotations(self, w: Node, r: Node) -> None:
        for keyword, kind in _NOTED.items():
            if keyword in w.schema and keyword in r.schema \
                    and dump(w.schema[keyword]) != dump(r.schema[keyword]):
                self.emit(kind, f"{r.path}/{keyword}", f"{keyword} changed")

    def _distributed(self, w: Node, r: Node) -> bool:
        """Step 4 of the theory of operation; False when neither side is a pure combination."""
        wk, rk = _pure_kind(w.schema), _pure_kind(r.schema)
        if wk is None and rk is None:
            return False
        if wk and rk:
            if wk == rk:
                return False
            self.emit("COMBINED_TYPE_CHANGED", r.path, f"the combination changed from {wk} to {rk}")
            return True
        if wk in ("anyOf", "oneOf"):
            for branch in _branches(w, wk):
                self.compare(branch, r)
        elif wk == "allOf":
            self._best(_branches(w, wk), lambda b: self.trial(b, r), "PRODUCT_TYPE_NARROWED", r.path)
        elif rk == "allOf":
            for branch in _branches(r, rk):
                self.compare(w, branch)
        elif rk is not None:
            self._best(_branches(r, rk), lambda b: self.trial(w, b), "SUM_TYPE_EXTENDED", r.path)
        return True

    def _best(self, options: list[Node], attempt: Callable[[Node], list[Difference]],
              extended: str | None, path: str) -> None:
        """Keep the first compatible attempt (noting `extended`), else the closest one's problems."""
        results = [attempt(option) for option in options]
        for found in results:
            if _compatible(found):
                self.out.extend(found)
                if extended:
                    self.emit(extended, path, _SAID[extended])
                return
        self.out.extend(min(results, key=lambda f: sum(not RULES[d.kind] for d in f)))

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
                settled = _settle(r.child(f"/properties/{escape(name)}", prop)) if prop is not None else None
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
        settled = _settle(node)
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
            if _settle(wnode).schema is False:
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
            if is_empty(_settle(node).schema):
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
            if _settle(node).schema is False:
                self.emit("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", path, where)
            else:
                self.emit("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", path,
                          f"{where} and old arrays had one there")
        elif self.fits(node, slot):
            self.emit("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path, where)
        else:
            self.emit("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", path,
                      f"{where} and the new additional items reject its old values")

    # -- combinations, not, if/then/else ----------------------------------------------------------

    def _combinations(self, w: Node, r: Node) -> None:
        wkinds = [k for k in COMBINERS if _branches(w, k)]
        rkinds = [k for k in COMBINERS if _branches(r, k)]
        if len(wkinds) == 1 and len(rkinds) == 1 and wkinds != rkinds:
            self.emit("COMBINED_TYPE_CHANGED", f"{r.path}/{rkinds[0]}",
                      f"the combination changed from {wkinds[0]} to {rkinds[0]}")
            return
        for kind in COMBINERS:
            old, new = _branches(w, kind), _branches(r, kind)
            path = f"{r.path}/{kind}"
            if old and new:
                self._branch_lists(kind, old, new, path)
            elif old:
                kind_name = "PRODUCT_TYPE_NARROWED" if kind == "allOf" else "SUM_TYPE_EXTENDED"
                self.emit(kind_name, path, f"{kind} was removed")
            elif new and kind == "allOf":
                if not all(self.fits(w, b) for b in new):
                    self.emit("PRODUCT_TYPE_EXTENDED", path,
                              "allOf was added with constraints old data may break")
            elif new and not any(self.fits(w, b) for b in new):
                self.emit("SUM_TYPE_NARROWED", path, f"{kind} was added; old data fits none of its branches")
            elif new:
                self.emit("SUM_TYPE_EXTENDED", path, f"{kind} was added; old data fits one branch")

    def _branch_lists(self, kind: str, old: list[Node], new: list[Node], path: str) -> None:
        product = kind == "allOf"
        if len(new) != len(old):
            grew = len(new) > len(old)
            name = ("PRODUCT_TYPE_" if product else "SUM_TYPE_") + ("EXTENDED" if grew else "NARROWED")
            self.emit(name, path, f"{kind} went from {len(old)} to {len(new)} branches")
        # sum: every old branch needs a compatible new branch; product: every new branch an old one
        needs, offers = (new, old) if product else (old, new)
        for i, need in enumerate(needs):
            order = ([i] if i < len(offers) else []) + [j for j in range(len(offers)) if j != i]
            found = None
            for j in order:
                writer, reader = (offers[j], need) if product else (need, offers[j])
                result = self.trial(writer, reader)
                if _compatible(result):
                    found = result
                    break
            if found is not None:
                self.out.extend(found)
                continue
            self.emit("COMBINED_TYPE_SUBSCHEMAS_CHANGED", path,
                      f"{'new' if product else 'old'} branch {i} of {kind} has no compatible counterpart")
            if i < len(offers):
                writer, reader = (offers[i], need) if product else (need, offers[i])
                self.out.extend(d for d in self.trial(writer, reader) if not RULES[d.kind])

    def _not(self, w: Node, r: Node) -> None:
        old, new = w.get("not"), r.get("not")
        if new is None:
            if old is not None:
                self.emit("NOT_TYPE_NARROWED", f"{r.path}/not", "not was removed")
            return
        if old is None:
            if _settle(new).schema is not False:
                self.emit("NOT_TYPE_EXTENDED", new.path, "not was added")
            return
        found = self.trial(new, old)  # roles swap: the new `not` must exclude no more than the old one
        if not _compatible(found):
            self.emit("NOT_TYPE_EXTENDED", new.path, "not now excludes values the old schema accepted")
        elif found:
            self.emit("NOT_TYPE_NARROWED", new.path, "not now excludes fewer values")

    def _conditional(self, w: Node, r: Node) -> None:
        old, new = w.get("if"), r.get("if")
        if old is None and new is None:
            return
        if new is None:
            self.emit("CONDITIONAL_REMOVED", f"{r.path}/if", "if/then/else was removed")
        elif old is None:
            self.emit("CONDITIONAL_ADDED", new.path, "if/then/else was added")
        elif dump(old.schema) != dump(new.schema):
            self.emit("CONDITIONAL_CHANGED", new.path, "the if condition changed")
        else:
            for keyword in ("then", "else"):
                a = w.get(keyword) or replace(w, schema=True, path=f"{w.path}/{keyword}")
                b = r.get(keyword) or replace(r, schema=True, path=f"{r.path}/{keyword}")
                self.compare(a, b)


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True


def _at(schema: Json, suffix: str) -> Json:
    """The value at a two-token pointer suffix such as /dependencies/a~1b."""
    _, keyword, token = suffix.split("/", 2)
    return schema[keyword][token.replace("~1", "/").replace("~0", "~")]
