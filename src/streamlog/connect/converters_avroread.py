"""Avro schemas and data back into Connect ones: Confluent's AvroData mapping, Avro → Connect direction.

Theory of operation: `connect_schema` reads an Avro schema (parsed JSON, as the registry holds it) the
way ``AvroData.toConnectSchema`` does, so a schema written by converters_avrodata.py comes back as the
Connect schema it was made from, and one written by another producer gets the nearest Connect shape:

* ``int`` is int32, or int8/int16 by ``connect.type``, or Connect's Date/Time by logicalType
  ``date``/``time-millis``; ``long`` is int64, or Timestamp by ``timestamp-millis``; ``bytes`` and
  ``fixed`` are bytes (``fixed`` adds the ``connect.fixed.size`` parameter), or Decimal by logicalType
  ``decimal`` (``scale``; the precision kept as the ``connect.decimal.precision`` parameter unless it is
  64); an ``enum`` is a string with parameters ``io.confluent.connect.avro.Enum`` (its full name) and
  ``io.confluent.connect.avro.Enum.<symbol>`` per symbol; a ``map`` has string keys; an array of
  ``MapEntry`` records (by name or ``connect.internal.type``) is a map; a record is a struct.
* A union of null and one type is that type, optional; other unions are refused (Confluent maps them
  to a struct ``io.confluent.connect.avro.Union``, not supported here).
* Name: ``connect.name``, else a record's, enum's or fixed's full name, none for Confluent's
  ``ConnectDefault...`` names.  ``connect.doc``, ``connect.version`` (else, at the top only, the
  schema's version in the registry), ``connect.parameters`` and properties starting with ``avro`` as
  parameters.  Default: a record field's ``default``, else ``connect.default`` (a field default without
  ``connect.default`` adds the parameter ``io.confluent.connect.avro.field.default=true``, as AvroData).

`connect_value` turns what fastavro read (with the logical types taken off the schema, so Decimal
bytes and time ints come raw) into the Connect value of that schema.
"""

from __future__ import annotations

from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_avrodata import (
    DECIMAL_PRECISION_PARAM,
    DEFAULT_DECIMAL_PRECISION,
    NAMESPACE,
)
from streamlog.connect.converters_jsontext import round_float32
from streamlog.connect.converters_logical import DATE, DECIMAL, TIME, TIMESTAMP, decimal_from_bytes, scale_of
from streamlog.connect.data import Field, Schema, Type

_NO_DEFAULT: Final = object()
_SIMPLE: Final = {"double": Type.FLOAT64, "float": Type.FLOAT32, "boolean": Type.BOOLEAN,
                  "string": Type.STRING}
_PRIMITIVE_NAMES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
DEFAULT_FLAG: Final = f"{NAMESPACE}.field.default"
_DEFAULT_FULL_NAME: Final = f"{NAMESPACE}.ConnectDefault"
_MAP_ENTRY_FULL_NAME: Final = f"{NAMESPACE}.MapEntry"


def _full_name(node: dict[str, Any], namespace: str | None) -> tuple[str, str | None]:
    """A named type's full name and its namespace (Avro's rules: a dotted name carries its own)."""
    name = str(node["name"])
    if "." in name:
        return name, name.rpartition(".")[0]
    own = node.get("namespace", namespace)
    own = own or None
    return (f"{own}.{name}" if own else name), own


class AvroReader:
    """Reads one Avro schema (and data written with it) into Connect's model; named types resolved."""

    def __init__(self) -> None:
        self.named: dict[str, tuple[Any, str | None]] = {}  # full name -> (node, its namespace)

    def connect_schema(self, node: Any, namespace: str | None = None, *, version: int | None = None,
                       field_default: Any = _NO_DEFAULT, optional: bool = False) -> Schema:
        if isinstance(node, list):
            return self._union(node, namespace)
        if isinstance(node, str):
            if node not in _PRIMITIVE_NAMES:
                node, namespace = self._resolve(node, namespace)
                return self.connect_schema(node, namespace, field_default=field_default, optional=optional)
            node = {"type": node}
        if not isinstance(node, dict):
            raise ConnectError(f"Invalid Avro schema: {node!r}")
        if isinstance(node.get("type"), (list, dict)):
            return self.connect_schema(node["type"], namespace, field_default=field_default,
                                       optional=optional)
        avro_type = node.get("type")
        if avro_type in ("record", "enum", "fixed"):
            full_name, namespace = _full_name(node, namespace)
            self.named[full_name] = (node, namespace)
        else:
            full_name = None
        kind, name, version_of_type, parameters, fields, items, keys, values = self._shape(node, namespace)
        doc = node.get("connect.doc") if isinstance(node.get("connect.doc"), str) else None
        connect_version = node.get("connect.version")
        if isinstance(connect_version, int) and not isinstance(connect_version, bool):
            version_of_type = connect_version
        elif version_of_type is None:
            version_of_type = version
        connect_parameters = node.get("connect.parameters")
        if isinstance(connect_parameters, dict):
            for key, value in connect_parameters.items():
                if not isinstance(value, str):
                    raise ConnectError(f"Expected schema parameter values to be strings but found: {value!r}")
                parameters[key] = value
        for key, value in node.items():
            if key.startswith("avro"):
                parameters[key] = value if isinstance(value, str) else str(value)
        connect_name = node.get("connect.name")
        if isinstance(connect_name, str):
            name = connect_name
        elif full_name is not None and name is None:
            name = full_name
        if name is not None and name.startswith(_DEFAULT_FULL_NAME):
            name = None
        default_node = field_default
        if field_default is _NO_DEFAULT:
            default_node = node.get("connect.default", _NO_DEFAULT)
        elif "connect.default" not in node:
            parameters[DEFAULT_FLAG] = "true"
        base = Schema(kind, optional, name, version_of_type, doc, parameters or None, None, fields, items,
                      keys, values)
        if default_node is _NO_DEFAULT or default_node is None:
            return base
        default = self.default_value(base, default_node)
        return Schema(kind, optional, name, version_of_type, doc, parameters or None, default, fields, items,
                      keys, values)

    def _resolve(self, name: str, namespace: str | None) -> tuple[Any, str | None]:
        for candidate in ([f"{namespace}.{name}", name] if namespace and "." not in name else [name]):
            if candidate in self.named:
                return self.named[candidate]
        raise ConnectError(f"Unknown Avro type name {name!r}")

    def _union(self, branches: list[Any], namespace: str | None) -> Schema:
        others = [branch for branch in branches if branch != "null" and branch != {"type": "null"}]
        if len(branches) == 2 and len(others) == 1:
            return self.connect_schema(others[0], namespace, optional=True)
        if len(others) == 1 and len(branches) == 1:
            return self.connect_schema(others[0], namespace)
        raise ConnectError(f"Avro union {branches!r} is not supported: only [\"null\", T] unions map to "
                           "Connect schemas here (Confluent's io.confluent.connect.avro.Union is not "
                           "supported)")

    def _shape(self, node: dict[str, Any], namespace: str | None) -> tuple[
            Type, str | None, int | None, dict[str, str], tuple[Field, ...], Schema | None, Schema | None,
            Schema | None]:
        avro_type = node.get("type")
        logical = node.get("logicalType")
        params: dict[str, str] = {}
        fields: tuple[Field, ...] = ()
        if avro_type == "int":
            if logical == "date":
                return Type.INT32, DATE, 1, params, fields, None, None, None
            if logical == "time-millis":
                return Type.INT32, TIME, 1, params, fields, None, None, None
            connect_type = node.get("connect.type")
            kind = Type.INT32
            if logical is None and connect_type is not None:
                kind = {"int8": Type.INT8, "int16": Type.INT16}.get(str(connect_type), Type.INT32)
            if connect_type is not None and logical is None and kind is Type.INT32:
                raise ConnectError(f"Connect type annotation {connect_type!r} for Avro int is not known")
            return kind, None, None, params, fields, None, None, None
        if avro_type == "long":
            if logical == "timestamp-millis":
                return Type.INT64, TIMESTAMP, 1, params, fields, None, None, None
            return Type.INT64, None, None, params, fields, None, None, None
        if avro_type in ("bytes", "fixed"):
            name = None
            version = None
            if logical == "decimal":
                scale = node.get("scale", 0)
                params["scale"] = str(scale if isinstance(scale, int) else 0)
                precision = node.get("precision")
                if precision is not None and precision != DEFAULT_DECIMAL_PRECISION:
                    params[DECIMAL_PRECISION_PARAM] = str(precision)
                name, version = DECIMAL, 1
            if avro_type == "fixed":
                params["connect.fixed.size"] = str(node.get("size"))
            return Type.BYTES, name, version, params, fields, None, None, None
        if avro_type in _SIMPLE:
            return _SIMPLE[avro_type], None, None, params, fields, None, None, None
        if avro_type == "enum":
            params[f"{NAMESPACE}.Enum"] = _full_name(node, namespace)[0]
            if isinstance(node.get("doc"), str):
                params[f"{NAMESPACE}.enum.doc.{node['name']}"] = node["doc"]
            for symbol in node.get("symbols", []):
                params[f"{NAMESPACE}.Enum.{symbol}"] = symbol
            return Type.STRING, None, None, params, fields, None, None, None
        if avro_type == "array":
            items_node = node.get("items")
            entry = self._map_entry(items_node, namespace)
            if entry is not None:
                key_node, value_node, entry_namespace = entry
                return (Type.MAP, None, None, params, fields, None,
                        self.connect_schema(key_node, entry_namespace),
                        self.connect_schema(value_node, entry_namespace))
            items = self.connect_schema(items_node, namespace)
            return Type.ARRAY, None, None, params, fields, items, None, None
        if avro_type == "map":
            return (Type.MAP, None, None, params, fields, None, Schema(Type.STRING),
                    self.connect_schema(node.get("values"), namespace))
        if avro_type == "record":
            if isinstance(node.get("doc"), str):
                params[f"{NAMESPACE}.record.doc"] = node["doc"]
            field_list = []
            for field_node in node.get("fields", []):
                if isinstance(field_node.get("doc"), str):
                    params[f"{NAMESPACE}.field.doc.{field_node['name']}"] = field_node["doc"]
                field_schema = self.connect_schema(field_node["type"], namespace,
                                                   field_default=field_node.get("default", _NO_DEFAULT))
                field_list.append(Field(field_node["name"], field_schema))
            return Type.STRUCT, None, None, params, tuple(field_list), None, None, None
        if avro_type == "null":
            raise ConnectError("Standalone null schemas are not supported by this converter")
        raise ConnectError(f"Couldn't translate unsupported schema type {avro_type!r}.")

    def _map_entry(self, node: Any, namespace: str | None) -> tuple[Any, Any, str | None] | None:
        if isinstance(node, str) and node not in _PRIMITIVE_NAMES:
            node, namespace = self._resolve(node, namespace)
        if not isinstance(node, dict) or node.get("type") != "record":
            return None
        full_name, own_namespace = _full_name(node, namespace)
        if full_name != _MAP_ENTRY_FULL_NAME and node.get("connect.internal.type") != "MapEntry":
            return None
        self.named[full_name] = (node, own_namespace)
        by_name = {f["name"]: f["type"] for f in node.get("fields", [])}
        if set(by_name) != {"key", "value"}:
            raise ConnectError("Found map encoded as array of key-value pairs, but array elements do not "
                               "match the expected format.")
        return by_name["key"], by_name["value"], own_namespace

    def default_value(self, schema: Schema, node: Any) -> Any:
        """A default in Avro's JSON form as the Connect value of ``schema``."""
        if node is None:
            return None
        kind = schema.type
        if kind is Type.BYTES:
            raw = node.encode("latin-1") if isinstance(node, str) else bytes(node)
            return decimal_from_bytes(raw, scale_of(schema.parameters)) if schema.name == DECIMAL else raw
        if kind is Type.FLOAT32:
            return round_float32(float(node))
        if kind is Type.FLOAT64:
            return float(node)
        if kind is Type.ARRAY and schema.items is not None:
            return [self.default_value(schema.items, element) for element in node]
        if kind is Type.MAP and schema.keys is not None and schema.values is not None:
            if isinstance(node, dict):
                return {k: self.default_value(schema.values, v) for k, v in node.items()}
            return {self.default_value(schema.keys, entry["key"]):
                    self.default_value(schema.values, entry["value"]) for entry in node}
        if kind is Type.STRUCT:
            return {f.name: self.default_value(f.schema, node.get(f.name)) for f in schema.fields}
        return node


def connect_value(schema: Schema, datum: Any) -> Any:
    """What fastavro read (logical types off) as the Connect value of ``schema``."""
    if datum is None:
        return None
    kind = schema.type
    if kind is Type.BYTES:
        if schema.name == DECIMAL:
            return decimal_from_bytes(datum, scale_of(schema.parameters))
        return bytes(datum)
    if kind is Type.ARRAY:
        assert schema.items is not None
        return [connect_value(schema.items, element) for element in datum]
    if kind is Type.MAP:
        assert schema.keys is not None and schema.values is not None
        if isinstance(datum, dict):
            return {k: connect_value(schema.values, v) for k, v in datum.items()}
        return {connect_value(schema.keys, entry["key"]): connect_value(schema.values, entry["value"])
                for entry in datum}
    if kind is Type.STRUCT:
        return {f.name: connect_value(f.schema, datum.get(f.name)) for f in schema.fields}
    return datum


def without_logical_types(node: Any) -> Any:
    """The schema with every ``logicalType`` taken off (the binary encoding is the same)."""
    if isinstance(node, list):
        return [without_logical_types(element) for element in node]
    if isinstance(node, dict):
        return {k: without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    return node
