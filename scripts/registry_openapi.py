"""Write the schema registry's OpenAPI document: ``python scripts/registry_openapi.py > src/streamlog/registry/http/openapi.json``.

The document is data built here once (routes, parameters, bodies, responses, the error body);
tests/fuzz/test_registry_schemathesis.py checks that the committed file is what this prints and that
it lists exactly the routes of ``registry/http/app.py``, then fuzzes the live API against it.
"""

import json

V1 = "application/vnd.schemaregistry.v1+json"
RESP_TYPES = [V1, "application/vnd.schemaregistry+json", "application/json"]
REQ_TYPES = [V1, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"]


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def content(schema, types=RESP_TYPES):
    return {t: {"schema": schema} for t in types}


def ok(desc, schema):
    return {"description": desc, "content": content(schema)}


def err(desc):
    return {"description": desc, "content": content(ref("ErrorMessage"))}


COMMON = {
    "400": err("A malformed query parameter (e.g. a non-integer offset) or request body (error_code 400)."),
    "406": err(
        "Not acceptable: the Accept header allows none of the registry's media types (error_code 406)."
    ),
    "500": err(
        "Internal error (50001 store error, 50002 timeout, 50003 forwarding failed, 50004 unknown leader)."
    ),
}
BODY_ERRORS = {
    "400": err("Malformed JSON, a field of the wrong JSON type, or nesting too deep (error_code 400)."),
    "413": err("The request body is larger than 16 MiB (error_code 413)."),
    "415": err("Unsupported request Content-Type (error_code 415)."),
}
WRITE_ERRORS = {
    "422": err("42205: operation not permitted (READONLY mode)."),
}


def op(summary, op_id, responses, params=(), body=None, desc=None, tags=()):
    o = {"summary": summary, "operationId": op_id, "tags": list(tags)}
    if desc:
        o["description"] = desc
    if params:
        o["parameters"] = list(params)
    if body is not None:
        o["requestBody"] = {"required": True, "content": content(body, REQ_TYPES)}
    o["responses"] = {**responses, **COMMON}
    if body is not None:
        for k, v in BODY_ERRORS.items():
            o["responses"].setdefault(k, v)
    return o


def qbool(name, desc):
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": desc,
        "schema": {"type": "boolean", "default": False},
    }


def qint(name, desc, minimum=None):
    s = {"type": "integer", "format": "int32"}
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": s}


def qstr(name, desc, enum=None):
    s = {"type": "string"}
    if enum:
        s["enum"] = enum
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": s}


SUBJECT = {
    "name": "subject",
    "in": "path",
    "required": True,
    "description": "Subject name; a '/' in it is sent as %2F (Protobuf import paths are subjects).",
    "schema": {"type": "string", "minLength": 1},
}
VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": 'Version number 1..2^31-1, or "latest", or -1 (= latest). Anything else gets 42202.',
    "schema": {"type": "string", "pattern": "^(latest|-1|[1-9][0-9]{0,9})$"},
    "examples": {"latest": {"value": "latest"}, "one": {"value": "1"}},
}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Globally unique schema id.",
    "schema": {"type": "integer", "format": "int32"},
}
OFFSET = qint("offset", "Skip this many results (pagination).")
LIMIT = qint("limit", "Return at most this many results; negative means no limit.")
DELETED = qbool("deleted", "Include soft-deleted subjects/versions.")
NORMALIZE = qbool("normalize", "Compare and store the normalized form of the schema.")
FORMAT = qstr(
    "format",
    '"serialized": a Protobuf schema as a base64 FileDescriptorProto; "resolved": an Avro schema with its referenced types written out in full. Other values return the schema as stored.',
)
DEFAULT_GLOBAL = qbool("defaultToGlobal", "Answer the global setting when the subject has none of its own.")
PERMANENT = qbool("permanent", "Hard delete (needs a prior soft delete: 40405 / 40407).")

LEVELS = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
MODES = ["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"]

schemas = {
    "ErrorMessage": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {
            "error_code": {
                "type": "integer",
                "description": "Confluent's error code; its first 3 digits are the HTTP status (bare 400, 404, 405, 406, 409, 413, 415, 422, 500 are their own status).",
            },
            "message": {"type": "string"},
        },
    },
    "SchemaType": {
        "type": "string",
        "enum": ["AVRO", "JSON", "PROTOBUF"],
        "description": "Absent means AVRO. Accepted case-insensitively in requests.",
    },
    "SchemaReference": {
        "type": "object",
        "required": ["name", "subject", "version"],
        "properties": {
            "name": {
                "type": "string",
                "description": "Avro full type name, Protobuf import path or JSON Schema $ref URL.",
            },
            "subject": {"type": "string"},
            "version": {"type": "integer", "format": "int32"},
        },
    },
    "Metadata": {
        "type": "object",
        "description": "Data contract metadata (stored, not interpreted).",
        "additionalProperties": True,
    },
    "RuleSet": {
        "type": "object",
        "description": "Data contract rules (stored, not interpreted).",
        "additionalProperties": True,
    },
    "RegisterSchemaRequest": {
        "type": "object",
        "required": ["schema"],
        "properties": {
            "schema": {
                "type": "string",
                "description": "The schema text (Avro/JSON Schema as a JSON string, Protobuf as .proto source).",
            },
            "schemaType": {
                "type": "string",
                "enum": ["AVRO", "JSON", "PROTOBUF"],
                "description": "AVRO (default), JSON or PROTOBUF (case-insensitive; another value gets 42201).",
            },
            "references": {"type": "array", "items": ref("SchemaReference")},
            "version": {
                "type": "integer",
                "format": "int32",
                "description": "Explicit version (IMPORT mode).",
            },
            "id": {
                "type": "integer",
                "format": "int32",
                "description": "Explicit id (IMPORT mode; otherwise must match: 42207).",
            },
            "metadata": ref("Metadata"),
            "ruleSet": ref("RuleSet"),
        },
    },
    "RegisterSchemaResponse": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "integer"},
            "subject": {"type": "string"},
            "version": {"type": "integer"},
            "schemaType": ref("SchemaType"),
            "references": {"type": "array", "items": ref("SchemaReference")},
            "metadata": ref("Metadata"),
            "ruleSet": ref("RuleSet"),
            "schema": {"type": "string"},
        },
    },
    "Schema": {
        "type": "object",
        "required": ["subject", "version", "id", "schema"],
        "properties": {
            "subject": {"type": "string"},
            "version": {"type": "integer"},
            "id": {"type": "integer"},
            "schemaType": ref("SchemaType"),
            "references": {"type": "array", "items": ref("SchemaReference")},
            "metadata": ref("Metadata"),
            "ruleSet": ref("RuleSet"),
            "schema": {"type": "string"},
        },
    },
    "SchemaString": {
        "type": "object",
        "required": ["schema"],
        "properties": {
            "schemaType": ref("SchemaType"),
            "references": {"type": "array", "items": ref("SchemaReference")},
            "metadata": ref("Metadata"),
            "ruleSet": ref("RuleSet"),
            "schema": {"type": "string"},
            "maxId": {
                "type": "integer",
                "description": "With fetchMaxId=true: the highest id in the registry.",
            },
        },
    },
    "RawSchema": {
        "description": "The schema itself: a JSON value for Avro and JSON Schema, a string (.proto source) for Protobuf."
    },
    "SubjectVersion": {
        "type": "object",
        "required": ["subject", "version"],
        "properties": {"subject": {"type": "string"}, "version": {"type": "integer"}},
    },
    "CompatibilityCheckResponse": {
        "type": "object",
        "required": ["is_compatible"],
        "properties": {
            "is_compatible": {"type": "boolean"},
            "messages": {
                "type": "array",
                "items": {"type": "string"},
                "description": "With verbose=true: what breaks.",
            },
        },
    },
    "CompatibilityLevel": {"type": "string", "enum": LEVELS},
    "Config": {
        "type": "object",
        "required": ["compatibilityLevel"],
        "properties": {"compatibilityLevel": ref("CompatibilityLevel")},
    },
    "ConfigUpdateRequest": {
        "type": "object",
        "properties": {
            "compatibility": {
                "type": "string",
                "enum": LEVELS,
                "description": "One of the compatibility levels (case-insensitive); otherwise 42203.",
            },
            "compatibilityLevel": {
                "type": "string",
                "enum": LEVELS,
                "description": "Accepted in place of compatibility.",
            },
        },
    },
    "ConfigUpdateResponse": {
        "type": "object",
        "required": ["compatibility"],
        "properties": {"compatibility": ref("CompatibilityLevel")},
    },
    "Mode": {
        "type": "object",
        "required": ["mode"],
        "properties": {"mode": {"type": "string", "enum": MODES}},
    },
    "ModeUpdateRequest": {
        "type": "object",
        "required": ["mode"],
        "properties": {
            "mode": {
                "type": "string",
                "enum": MODES,
                "description": "One of the modes (case-insensitive); otherwise 42204.",
            }
        },
    },
}

ints = {"type": "array", "items": {"type": "integer"}}
strs = {"type": "array", "items": {"type": "string"}}
e40401 = err("40401: subject not found.")
e40402 = err("40401 subject not found, 40402 version not found.")
e40403 = err("40403: schema not found.")

paths = {}
paths["/"] = {"get": op("Root", "root", {"200": ok("An empty object.", {"type": "object"})}, tags=["server"])}
paths["/openapi.json"] = {
    "get": {
        "summary": "This document",
        "operationId": "openapi",
        "tags": ["server"],
        "responses": {
            "200": {
                "description": "The OpenAPI document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }
}
paths["/schemas/types"] = {
    "get": op(
        "Schema types",
        "getSchemaTypes",
        {"200": ok("The supported schema types.", {"type": "array", "items": ref("SchemaType")})},
        tags=["schemas"],
    )
}
paths["/schemas"] = {
    "get": op(
        "List schemas",
        "getSchemas",
        {
            "200": ok(
                "Versions of the matching subjects, by subject then version.",
                {"type": "array", "items": ref("Schema")},
            )
        },
        [
            qstr("subjectPrefix", "Only subjects starting with this."),
            DELETED,
            qbool("latestOnly", "Only each subject's latest version."),
            OFFSET,
            LIMIT,
        ],
        tags=["schemas"],
    )
}
paths["/schemas/ids/{id}"] = {
    "get": op(
        "Schema by id",
        "getSchemaById",
        {"200": ok("The schema.", ref("SchemaString")), "404": e40403},
        [
            ID,
            qstr(
                "subject",
                "Subject to look in (selects the context; the id resolves whatever subject uses it).",
            ),
            FORMAT,
            qbool("fetchMaxId", "Also answer maxId."),
        ],
        tags=["schemas"],
    )
}
paths["/schemas/ids/{id}/schema"] = {
    "get": op(
        "Raw schema by id",
        "getSchemaOnlyById",
        {"200": ok("The schema itself.", ref("RawSchema")), "404": e40403},
        [ID, qstr("subject", "As for /schemas/ids/{id}."), FORMAT],
        tags=["schemas"],
    )
}
paths["/schemas/ids/{id}/subjects"] = {
    "get": op(
        "Subjects using an id",
        "getSubjectsById",
        {"200": ok("Subject names.", strs), "404": e40403},
        [ID, DELETED, OFFSET, LIMIT],
        tags=["schemas"],
    )
}
paths["/schemas/ids/{id}/versions"] = {
    "get": op(
        "Subject versions using an id",
        "getVersionsById",
        {
            "200": ok("(subject, version) pairs.", {"type": "array", "items": ref("SubjectVersion")}),
            "404": e40403,
        },
        [ID, DELETED, OFFSET, LIMIT],
        tags=["schemas"],
    )
}
paths["/subjects"] = {
    "get": op(
        "List subjects",
        "getSubjects",
        {"200": ok("Subject names, sorted.", strs)},
        [
            qstr("subjectPrefix", 'Only subjects starting with this (":*:" = all).'),
            DELETED,
            qbool("deletedOnly", "Only subjects whose versions are all soft-deleted."),
            OFFSET,
            LIMIT,
        ],
        tags=["subjects"],
    )
}
paths["/subjects/{subject}"] = {
    "post": op(
        "Look up a schema under a subject",
        "lookUpSchemaUnderSubject",
        {
            "200": ok("The version holding the schema.", ref("Schema")),
            "404": err("40401 subject not found, 40403 schema not found under it."),
            "422": err("42201: invalid schema or schema type."),
        },
        [SUBJECT, NORMALIZE, DELETED, FORMAT],
        ref("RegisterSchemaRequest"),
        tags=["subjects"],
    ),
    "delete": op(
        "Delete a subject",
        "deleteSubject",
        {
            "200": ok("The deleted versions.", ints),
            "404": err(
                "40401 subject not found, 40404 already soft-deleted, 40405 not soft-deleted before a permanent delete."
            ),
            "422": err("42205 not permitted (READONLY), 42206 a version is still referenced."),
        },
        [SUBJECT, PERMANENT],
        tags=["subjects"],
    ),
}
paths["/subjects/{subject}/versions"] = {
    "get": op(
        "List versions",
        "getVersions",
        {
            "200": ok("Version numbers (negative for soft-deleted with deletedAsNegative).", ints),
            "404": e40401,
        },
        [
            SUBJECT,
            DELETED,
            qbool("deletedOnly", "Only soft-deleted versions."),
            qbool("deletedAsNegative", "Soft-deleted versions as negative numbers."),
            OFFSET,
            LIMIT,
        ],
        tags=["subjects"],
    ),
    "post": op(
        "Register a schema",
        "register",
        {
            "200": ok(
                "The schema's id (the same id for the same schema in any subject).",
                ref("RegisterSchemaResponse"),
            ),
            "409": err("409: incompatible with an earlier version under the subject's compatibility level."),
            "422": err(
                "42201 invalid schema or type, 42205 not permitted (mode), 42207 id does not match, 42208 invalid subject."
            ),
        },
        [SUBJECT, NORMALIZE, FORMAT],
        ref("RegisterSchemaRequest"),
        tags=["subjects"],
    ),
}
vparams = [SUBJECT, VERSION]
paths["/subjects/{subject}/versions/{version}"] = {
    "get": op(
        "Get a version",
        "getSchemaByVersion",
        {"200": ok("The version.", ref("Schema")), "404": e40402, "422": err("42202: invalid version.")},
        [*vparams, DELETED, FORMAT],
        tags=["subjects"],
    ),
    "delete": op(
        "Delete a version",
        "deleteSchemaVersion",
        {
            "200": ok("The deleted version number.", {"type": "integer"}),
            "404": err(
                "40401, 40402, 40406 already soft-deleted, 40407 not soft-deleted before a permanent delete."
            ),
            "422": err("42202 invalid version, 42205 not permitted, 42206 still referenced."),
        },
        [*vparams, PERMANENT],
        tags=["subjects"],
    ),
}
paths["/subjects/{subject}/versions/{version}/schema"] = {
    "get": op(
        "Raw schema of a version",
        "getSchemaOnly",
        {
            "200": ok("The schema itself.", ref("RawSchema")),
            "404": e40402,
            "422": err("42202: invalid version."),
        },
        [*vparams, DELETED, FORMAT],
        tags=["subjects"],
    )
}
paths["/subjects/{subject}/versions/{version}/referencedby"] = {
    "get": op(
        "Schemas referencing a version",
        "getReferencedBy",
        {
            "200": ok("Ids of live schemas whose references name this version.", ints),
            "404": e40402,
            "422": err("42202: invalid version."),
        },
        [*vparams, OFFSET, LIMIT],
        tags=["subjects"],
    )
}
paths["/subjects/{subject}/metadata"] = {
    "get": op(
        "Latest version with metadata",
        "getLatestWithMetadata",
        {"200": ok("The newest version whose metadata properties match.", ref("Schema")), "404": e40402},
        [
            SUBJECT,
            {
                "name": "key",
                "in": "query",
                "required": False,
                "schema": {"type": "array", "items": {"type": "string"}},
                "style": "form",
                "explode": True,
                "description": "Metadata property names.",
            },
            {
                "name": "value",
                "in": "query",
                "required": False,
                "schema": {"type": "array", "items": {"type": "string"}},
                "style": "form",
                "explode": True,
                "description": "Metadata property values, paired with key.",
            },
            DELETED,
        ],
        tags=["subjects"],
    )
}
compat_resp = {
    "200": ok("The verdict.", ref("CompatibilityCheckResponse")),
    "404": e40402,
    "422": err("42201 invalid schema, 42202 invalid version."),
}
cparams = [NORMALIZE, qbool("verbose", "Also answer what breaks.")]
paths["/compatibility/subjects/{subject}/versions"] = {
    "post": op(
        "Check against the versions the level names",
        "testCompatibilityForSubject",
        compat_resp,
        [SUBJECT, *cparams],
        ref("RegisterSchemaRequest"),
        tags=["compatibility"],
    )
}
paths["/compatibility/subjects/{subject}/versions/{version}"] = {
    "post": op(
        "Check against one version",
        "testCompatibilityBySubjectName",
        compat_resp,
        [*vparams, *cparams],
        ref("RegisterSchemaRequest"),
        tags=["compatibility"],
    )
}
cfg_put = {
    "200": ok("The new level.", ref("ConfigUpdateResponse")),
    "422": err("42203 invalid compatibility level, 42205 not permitted."),
}
paths["/config"] = {
    "get": op(
        "Global compatibility level",
        "getTopLevelConfig",
        {"200": ok("The level.", ref("Config"))},
        [DEFAULT_GLOBAL],
        tags=["config"],
    ),
    "put": op(
        "Set the global compatibility level",
        "updateTopLevelConfig",
        cfg_put,
        (),
        ref("ConfigUpdateRequest"),
        tags=["config"],
    ),
    "delete": op(
        "Reset the global compatibility level",
        "deleteTopLevelConfig",
        {"200": ok("The level before the reset.", ref("Config"))},
        tags=["config"],
    ),
}
paths["/config/{subject}"] = {
    "get": op(
        "Subject compatibility level",
        "getSubjectLevelConfig",
        {
            "200": ok("The level.", ref("Config")),
            "404": err("40408: no subject-level config (without defaultToGlobal)."),
        },
        [SUBJECT, DEFAULT_GLOBAL],
        tags=["config"],
    ),
    "put": op(
        "Set a subject's compatibility level",
        "updateSubjectLevelConfig",
        cfg_put,
        [SUBJECT],
        ref("ConfigUpdateRequest"),
        tags=["config"],
    ),
    "delete": op(
        "Delete a subject's compatibility level",
        "deleteSubjectConfig",
        {"200": ok("The level before the delete.", ref("Config")), "404": e40401},
        [SUBJECT],
        tags=["config"],
    ),
}
mode_put = {
    "200": ok("The new mode.", ref("Mode")),
    "422": err("42204 invalid mode, 42205 not permitted (IMPORT with existing schemas, without force)."),
}
paths["/mode"] = {
    "get": op(
        "Global mode",
        "getTopLevelMode",
        {"200": ok("The mode.", ref("Mode"))},
        [DEFAULT_GLOBAL],
        tags=["modes"],
    ),
    "put": op(
        "Set the global mode",
        "updateTopLevelMode",
        mode_put,
        [qbool("force", "Enter IMPORT even with schemas registered.")],
        ref("ModeUpdateRequest"),
        tags=["modes"],
    ),
    "delete": op(
        "Reset the global mode to READWRITE",
        "deleteTopLevelMode",
        {"200": ok("The new mode.", ref("Mode"))},
        tags=["modes"],
    ),
}
paths["/mode/{subject}"] = {
    "get": op(
        "Subject mode",
        "getMode",
        {
            "200": ok("The mode.", ref("Mode")),
            "404": err("40409: no subject-level mode (without defaultToGlobal)."),
        },
        [SUBJECT, DEFAULT_GLOBAL],
        tags=["modes"],
    ),
    "put": op(
        "Set a subject's mode",
        "updateMode",
        mode_put,
        [SUBJECT, qbool("force", "Enter IMPORT even with schemas under the subject.")],
        ref("ModeUpdateRequest"),
        tags=["modes"],
    ),
    "delete": op(
        "Delete a subject's mode",
        "deleteSubjectMode",
        {"200": ok("The mode before the delete.", ref("Mode")), "404": e40401},
        [SUBJECT],
        tags=["modes"],
    ),
}
paths["/contexts"] = {
    "get": op(
        "Contexts",
        "listContexts",
        {"200": ok('The contexts (only the default, ".").', strs)},
        [OFFSET, LIMIT],
        tags=["server"],
    )
}
paths["/v1/metadata/id"] = {
    "get": op(
        "Cluster ids",
        "getClusterId",
        {
            "200": ok(
                "Cluster ids.",
                {"type": "object", "required": ["scope"], "properties": {"scope": {"type": "object"}}},
            )
        },
        tags=["server"],
    )
}
paths["/v1/metadata/version"] = {
    "get": op(
        "Server version",
        "getSchemaRegistryVersion",
        {
            "200": ok(
                "Version and commit.",
                {
                    "type": "object",
                    "required": ["version", "commitId"],
                    "properties": {"version": {"type": "string"}, "commitId": {"type": "string"}},
                },
            )
        },
        tags=["server"],
    )
}
paths["/master_available"] = {
    "get": op(
        "Leader available (Karapace)",
        "masterAvailable",
        {
            "200": ok(
                "Whether a leader is known.",
                {
                    "type": "object",
                    "required": ["master_available"],
                    "properties": {"master_available": {"type": "boolean"}},
                },
            )
        },
        tags=["server"],
    )
}

doc = {
    "openapi": "3.0.3",
    "info": {
        "title": "Streamlog Schema Registry",
        "version": "0.1.0",
        "description": "Confluent Schema Registry's REST API, served by Streamlog over the _schemas topic of any Kafka-protocol cluster. "
        'Every error answers {"error_code", "message"} with Confluent\'s codes. Query booleans are read case-insensitively (true/True). '
        "Responses are application/vnd.schemaregistry.v1+json unless the Accept header asks for application/vnd.schemaregistry+json or application/json.",
        "license": {"name": "Apache-2.0"},
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": t} for t in ("schemas", "subjects", "compatibility", "config", "modes", "server")],
    "paths": paths,
    "components": {"schemas": schemas},
}
print(json.dumps(doc, indent=1))
