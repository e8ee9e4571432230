# Theory of operation: the JSON Schema compatibility checker (jsonschema_diff.py) walks the old
# (writer) and new (reader) schemas side by side and names every difference it finds with one of
# the names below, the vocabulary of Confluent's JSON Schema `Difference.Type`.  Whether a
# difference breaks BACKWARD compatibility (can the new schema accept every document the old one
# accepted?) is a property of the name alone, so it is kept here as one table: name -> compatible.
# This is Confluent's STRICT policy (its default).  The table was written from the published rules
# (Yokota, "Understanding JSON Schema Compatibility"; Confluent's serdes-json documentation); no
# code was copied.  Names marked "streamlog" are ours, for keywords Confluent's diff does not name.
"""Difference names for JSON Schema evolution and whether each one is backward compatible."""

from __future__ import annotations

from dataclasses import dataclass

# name -> compatible (in the backward direction: reader = new schema, writer = old schema)
RULES: dict[str, bool] = {
    # annotations: never change what validates
    "ID_CHANGED": True,
    "DESCRIPTION_CHANGED": True,
    "TITLE_CHANGED": True,
    "DEFAULT_CHANGED": True,
    # types (a reader `true`/`{}` is TYPE_EXTENDED; a reader `false` is TYPE_NARROWED)
    "TYPE_CHANGED": False,
    "TYPE_EXTENDED": True,
    "TYPE_NARROWED": False,
    # strings
    "MAX_LENGTH_ADDED": False,
    "MAX_LENGTH_REMOVED": True,
    "MAX_LENGTH_INCREASED": True,
    "MAX_LENGTH_DECREASED": False,
    "MIN_LENGTH_ADDED": False,
    "MIN_LENGTH_REMOVED": True,
    "MIN_LENGTH_INCREASED": False,
    "MIN_LENGTH_DECREASED": True,
    "PATTERN_ADDED": False,
    "PATTERN_REMOVED": True,
    "PATTERN_CHANGED": False,
    # numbers
    "MAXIMUM_ADDED": False,
    "MAXIMUM_REMOVED": True,
    "MAXIMUM_INCREASED": True,
    "MAXIMUM_DECREASED": False,
    "MINIMUM_ADDED": False,
    "MINIMUM_REMOVED": True,
    "MINIMUM_INCREASED": False,
    "MINIMUM_DECREASED": True,
    "EXCLUSIVE_MAXIMUM_ADDED": False,
    "EXCLUSIVE_MAXIMUM_REMOVED": True,
    "EXCLUSIVE_MAXIMUM_INCREASED": True,
    "EXCLUSIVE_MAXIMUM_DECREASED": False,
    "EXCLUSIVE_MINIMUM_ADDED": False,
    "EXCLUSIVE_MINIMUM_REMOVED": True,
    "EXCLUSIVE_MINIMUM_INCREASED": False,
    "EXCLUSIVE_MINIMUM_DECREASED": True,
    "MULTIPLE_OF_ADDED": False,
    "MULTIPLE_OF_REMOVED": True,
    "MULTIPLE_OF_REDUCED": True,  # the new divisor divides the old one
    "MULTIPLE_OF_EXPANDED": False,  # the old divisor divides the new one
    "MULTIPLE_OF_CHANGED": False,
    # enums (`const` is treated as a one-value enum)
    "ENUM_ARRAY_EXTENDED": True,
    "ENUM_ARRAY_NARROWED": False,
    "ENUM_ARRAY_CHANGED": False,
    # objects
    "REQUIRED_ATTRIBUTE_ADDED": False,
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED": True,
    "REQUIRED_ATTRIBUTE_REMOVED": True,
    "DEPENDENCY_ARRAY_ADDED": False,
    "DEPENDENCY_ARRAY_REMOVED": True,
    "DEPENDENCY_ARRAY_EXTENDED": False,
    "DEPENDENCY_ARRAY_NARROWED": True,
    "DEPENDENCY_ARRAY_CHANGED": False,
    "DEPENDENCY_SCHEMA_ADDED": False,
    "DEPENDENCY_SCHEMA_REMOVED": True,
    "MAX_PROPERTIES_ADDED": False,
    "MAX_PROPERTIES_REMOVED": True,
    "MAX_PROPERTIES_INCREASED": True,
    "MAX_PROPERTIES_DECREASED": False,
    "MIN_PROPERTIES_ADDED": False,
    "MIN_PROPERTIES_REMOVED": True,
    "MIN_PROPERTIES_INCREASED": False,
    "MIN_PROPERTIES_DECREASED": True,
    "ADDITIONAL_PROPERTIES_ADDED": True,  # false -> true
    "ADDITIONAL_PROPERTIES_REMOVED": False,  # true -> false
    "ADDITIONAL_PROPERTIES_EXTENDED": True,  # false -> schema, schema -> true
    "ADDITIONAL_PROPERTIES_NARROWED": False,  # true -> schema, schema -> false
    "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL": False,
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL": True,
    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL": False,
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL": True,
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL": True,
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL": True,
    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL": False,
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL": True,
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": True,
    "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": False,
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": True,
    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": False,
    # arrays
    "MAX_ITEMS_ADDED": False,
    "MAX_ITEMS_REMOVED": True,
    "MAX_ITEMS_INCREASED": True,
    "MAX_ITEMS_DECREASED": False,
    "MIN_ITEMS_ADDED": False,
    "MIN_ITEMS_REMOVED": True,
    "MIN_ITEMS_INCREASED": False,
    "MIN_ITEMS_DECREASED": True,
    "UNIQUE_ITEMS_ADDED": False,
    "UNIQUE_ITEMS_REMOVED": True,
    "ADDITIONAL_ITEMS_ADDED": True,
    "ADDITIONAL_ITEMS_REMOVED": False,
    "ADDITIONAL_ITEMS_EXTENDED": True,
    "ADDITIONAL_ITEMS_NARROWED": False,
    "ITEM_ADDED_TO_OPEN_CONTENT_MODEL": False,
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL": True,
    "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL": True,
    "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL": True,
    "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL": False,
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL": True,
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": True,
    "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": False,
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": True,
    "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": False,
    # combined schemas
    "COMBINED_TYPE_CHANGED": False,  # oneOf <-> anyOf <-> allOf
    "PRODUCT_TYPE_EXTENDED": False,  # allOf gained a branch
    "PRODUCT_TYPE_NARROWED": True,  # allOf lost a branch
    "SUM_TYPE_EXTENDED": True,  # oneOf/anyOf gained a branch
    "SUM_TYPE_NARROWED": False,  # oneOf/anyOf lost a branch
    "COMBINED_TYPE_SUBSCHEMAS_CHANGED": False,  # an old branch has no compatible new branch
    "NOT_TYPE_EXTENDED": False,  # `not` excludes more
    "NOT_TYPE_NARROWED": True,  # `not` excludes less
    # streamlog: keywords Confluent's diff does not name
    "CONDITIONAL_ADDED": False,  # if/then/else
    "CONDITIONAL_REMOVED": True,
    "CONDITIONAL_CHANGED": False,
    "CONTAINS_ADDED": False,
    "CONTAINS_REMOVED": True,
    "PROPERTY_NAMES_ADDED": False,
    "PROPERTY_NAMES_REMOVED": True,
}


@dataclass(frozen=True, slots=True)
class Difference:
    """One named difference between the writer (old) and the reader (new) schema.

    `path` is a JSON pointer (`#/properties/age`) into the reader schema, or, after a `$ref`, the
    reference followed (`customer.json#/properties/id`).
    """

    kind: str
    path: str
    description: str

    @property
    def compatible(self) -> bool:
        return RULES[self.kind]
