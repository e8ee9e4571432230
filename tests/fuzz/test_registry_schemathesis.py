"""Fuzz the schema registry's REST API from its OpenAPI document with schemathesis.

Theory of operation: a registry of its own (an `EmbeddedBroker(registry=True)` for this module:
the fuzzer changes the global config and mode, which must not leak into the session's shared
registry) serves ``/openapi.json``.  The schemathesis CLI (``schemathesis run``, v4) loads the
document from there and runs its phases (explicit examples, coverage of each parameter's edge
cases, random fuzzing, and stateful sequences along the links it infers) against every
operation, checking each answer: never a 5xx (``not_a_server_error``), and a status code, content
type and body the document lists for that operation.  Examples per operation are capped
(`MAX_EXAMPLES`) so the run takes well under a minute.  (The CLI rather than schemathesis' pytest
plugin: its lazy fixture loader does not run under pytest 9.)  On failure the CLI's report, with
curl reproductions and the seed, is the assertion message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamlog.embedded import EmbeddedBroker
from streamlog.registry.http import app as app_module

DOCUMENT = Path(app_module.__file__).resolve().parent / "openapi.json"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_registry_url() -> Iterator[str]:
    broker = EmbeddedBroker(registry=True)
    broker.start()
    try:
        url = broker.registry_url
        # something to find: subjects with versions, and a reference between them
        with httpx.Client(base_url=url) as c:
            for subject, schema in (("a", '"string"'), ("b", '{"type":"record","name":"R","fields":[]}')):
                assert c.post(f"/subjects/{subject}/versions", json={"schema": schema}).status_code == 200
            body = {
                "schema": '{"type":"record","name":"S","fields":[{"name":"r","type":"R"}]}',
                "references": [{"name": "R", "subject": "b", "version": 1}],
            }
            assert c.post("/subjects/c/versions", json=body).status_code == 200
        yield url
    finally:
        broker.stop()


def app_routes() -> set[tuple[str, str]]:
    source = Path(app_module.__file__).read_text()
    routes = set()
    for path, methods in re.findall(r'Route\("([^"]+)", handler\(\w+\),\s*methods=\[([^\]]+)\]', source):
        for method in re.findall(r'"(\w+)"', methods):
            routes.add((path, method.lower()))
    return routes


def test_the_document_is_served_and_lists_every_route(fuzz_registry_url: str) -> None:
    served = httpx.get(f"{fuzz_registry_url}/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    document = served.json()
    assert document == json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.")
    routes = app_routes()
    assert len(routes) > 30
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    for path, method in documented:
        operation = document["paths"][path][method]
        assert "200" in operation["responses"], (path, method)
        params = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
        assert params == set(re.findall(r"\{(\w+)\}", path)), (path, method)
        for status, response in operation["responses"].items():
            if status != "200" and path != "/openapi.json":
                for media in response["content"].values():
                    assert media["schema"] == {"$ref": "#/components/schemas/ErrorMessage"}, (
                        path,
                        method,
                        status,
                    )


def test_the_document_is_what_its_generator_prints() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "registry_openapi.py"
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == json.loads(DOCUMENT.read_text()), \
        "regenerate: python scripts/registry_openapi.py > src/streamlog/registry/http/openapi.json"


def test_api_conforms_to_its_document(fuzz_registry_url: str, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert cli is not None, "schemathesis is not installed (the test extra)"
    proc = subprocess.run(
        [
            cli,
            "run",
            f"{fuzz_registry_url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--continue-on-failure",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # the CLI keeps a .schemathesis/ cache in its working directory
        env={**os.environ, "NO_COLOR": "1"},
    )
    report = proc.stdout[-20000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, report
    assert re.search(r"\d+ generated, \d+ passed", report), report
