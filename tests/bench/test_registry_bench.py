"""Smoke test of the schema-registry benchmark: one tiny run against Streamlog's registry.  No timing is
asserted: only that every workload ran and reported positive figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("confluent_kafka")

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_registry_run_reports_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "registry.md"
    cmd = [sys.executable, "-m", "bench.registry", "--subjects", "20", "--startup-schemas", "100",
           "--registries", "streamlog", "--duration", "1", "--clients", "4", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "register on streamlog" in done.stderr  # progress lines
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["name"] for r in data["registries"]] == ["streamlog"]
    results = data["results"]
    for workload in ("register", "lookup-by-id", "lookup-by-schema", "compatibility"):
        figures = results[workload]["streamlog"]
        assert figures["errors"] == 0, workload
        assert figures["requests"] > 0 and figures["requests_per_s"] > 0, workload
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], workload
        assert figures["registry_cpu_ms_per_request"] is not None, workload
    assert results["register"]["streamlog"]["requests"] == 40  # 20 subjects, 2 versions each
    startup = results["startup"]["streamlog"]
    assert startup["ready_s"] > 0 and startup["empty_ready_s"] > 0 and startup["rss_mib"] > 0
    text = out.read_text()
    for workload in ("register", "lookup-by-id", "lookup-by-schema", "compatibility", "startup"):
        assert f"| {workload} |" in text
    assert "## Installing Karapace for this benchmark" in text
