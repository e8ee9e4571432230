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
# `Node` and settling (step 1) are in jsonschema_node.py; objects and arrays, with their content
# models, in jsonschema_content.py, a base class of the checker.  "Covered" and "fits" mean a trial
# comparison is compatible; trials run in a child checker that shares the pairs seen.
"""The JSON Schema compatibility walk: writer (old) against reader (new)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from streamlog.registry.formats.jsonschema_content import ContentModels
from streamlog.registry.formats.jsonschema_keywords import (
    dump,
    is_empty,
    may_be,
    scalar_differences,
    type_set,
)
from streamlog.registry.formats.jsonschema_node import COMBINERS, Node, pure_kind, settle
from streamlog.registry.formats.jsonschema_rules import RULES, Difference

_SAID = {"SUM_TYPE_EXTENDED": "the old schema is now one alternative among several",
         "PRODUCT_TYPE_NARROWED": "one of the old allOf branches alone already satisfies the new schema"}
_NOTED = {"$id": "ID_CHANGED", "id": "ID_CHANGED", "title": "TITLE_CHANGED",
          "description": "DESCRIPTION_CHANGED", "default": "DEFAULT_CHANGED"}


def differences(writer: Node, reader: Node) -> list[Difference]:
    """Every named difference from writer (old) to reader (new)."""
    checker = _Checker(set())
    checker.compare(writer, reader)
    return checker.out


def _compatible(found: list[Difference]) -> bool:
    return all(RULES[d.kind] for d in found)


def _branches(node: Node, kind: str) -> list[Node]:
    schema = node.schema
    found = [node.child(f"/{kind}/{i}", sub) for i, sub in enumerate(schema.get(kind) or [])]
    if kind == "allOf" and isinstance(schema.get("$ref"), str):  # 2019-09+: $ref beside siblings
        found.insert(0, node.follow())
    return found


class _Checker(ContentModels):
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
        w, r = settle(writer), settle(reader)
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
        wk, rk = pure_kind(w.schema), pure_kind(r.schema)
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
            if settle(new).schema is not False:
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
