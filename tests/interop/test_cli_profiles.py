"""Named cluster profiles, end to end: the real ``streamlog`` CLI as a subprocess against the broker
under test over TCP, with HOME and XDG_CONFIG_HOME in tmp_path so the profiles file is the test's own.
Judged only by exit code, stdout and stderr, as a user would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.interop.test_cli import cli, lines_of
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line

pytestmark = pytest.mark.interop


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """HOME and XDG_CONFIG_HOME of the test; the variables that pick other settings emptied."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "STREAMLOG_PROFILE": "",
            "STREAMLOG_PROFILES": "", "STREAMLOG_COMMAND_CONFIG": "", "STREAMLOG_REGISTRY": ""}


def profiles_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "streamlog" / "profiles.toml"


def write(tmp_path: Path, text: str) -> None:
    path = profiles_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run(*argv: str, env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return cli(*argv, env=env, stdin=stdin)


def test_a_created_profile_is_used_without_bootstrap(bootstrap: str, new_topic: str, tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    assert "now the current profile" in ok(run("profile", "create", "it", "--bootstrap", bootstrap, env=env))
    assert profiles_file(tmp_path).is_file(), "XDG_CONFIG_HOME is honoured"
    assert new_topic in lines_of(run("topics", "list", env=env))
    ok(run("produce", new_topic, "--key", "k", env=env, stdin=b"via-profile\n"))
    out = ok(run("consume", new_topic, "--from-beginning", "--exit-at-end", env=env))
    assert out.splitlines() == ["via-profile"]
    assert lines_of(run("profile", "list", env=env)) == [f"* it  {bootstrap}"]


def test_a_named_profile_and_the_environment_choose(bootstrap: str, new_topic: str, tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    dead = f"127.0.0.1:{free_port()}"
    write(tmp_path, f'current = "dead"\n[profiles.dead]\nbootstrap = "{dead}"\n'
                    f'[profiles.live]\nbootstrap = "{bootstrap}"\n')
    assert dead in one_error_line(run("topics", "list", env=env)), "the current profile is used"
    assert new_topic in lines_of(run("topics", "list", "--profile", "live", env=env))
    assert new_topic in lines_of(run("topics", "list", env={**env, "STREAMLOG_PROFILE": "live"}))
    assert new_topic in lines_of(run("topics", "list", "-b", bootstrap, env=env)), \
        "--bootstrap beats the profile"
    assert new_topic in lines_of(run("topics", "list", env={**env, "STREAMLOG_BOOTSTRAP": bootstrap})), \
        "$STREAMLOG_BOOTSTRAP beats the profile"


def test_a_profile_property_reaches_the_client_and_x_beats_it(bootstrap: str, new_topic: str,
                                                             tmp_path: Path, env: dict[str, str]) -> None:
    write(tmp_path, f'current = "p"\n[profiles.p]\nbootstrap = "{bootstrap}"\n'
                    '[profiles.p.properties]\nsocket.timeout.ms = "soon"\n')
    line = one_error_line(run("topics", "list", env=env), 2)
    assert "socket.timeout.ms" in line and "Invalid value" in line, line
    one_error_line(run("produce", new_topic, env=env, stdin=b"x\n"), 2)
    assert new_topic in lines_of(run("topics", "list", "-X", "socket.timeout.ms=30000", env=env))


def test_a_profile_command_config_reaches_the_client(bootstrap: str, new_topic: str, tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    conf = tmp_path / "client.properties"
    conf.write_text("security.protocol=SSL\nssl.ca.location=/no/such/ca.pem\n")
    ok(run("profile", "create", "tls", "-b", bootstrap, "--command-config", str(conf), env=env))
    line = one_error_line(run("topics", "list", env=env), 2)
    assert "ssl.ca.location" in line or "/no/such/ca.pem" in line, line
    assert new_topic in lines_of(run("topics", "list", "-X", "security.protocol=PLAINTEXT", env=env))


def test_the_profile_names_the_schema_registry(tmp_path: Path, env: dict[str, str]) -> None:
    registry = f"http://127.0.0.1:{free_port()}"
    write(tmp_path, f'current = "p"\n[profiles.p]\nbootstrap = "127.0.0.1:9"\nregistry = "{registry}"\n')
    line = one_error_line(run("schema", "list", env=env))
    assert f"cannot reach the schema registry at {registry}" in line, line
    other = f"http://127.0.0.1:{free_port()}"
    assert other in one_error_line(run("schema", "list", env={**env, "STREAMLOG_REGISTRY": other}))


def test_profile_mistakes_are_one_line_usage_errors(bootstrap: str, tmp_path: Path,
                                                    env: dict[str, str]) -> None:
    line = one_error_line(run("topics", "list", "--profile", "prod", env=env), 2)
    assert "there is no profiles file" in line and str(profiles_file(tmp_path)) in line
    write(tmp_path, f'[profiles.live]\nbootstrap = "{bootstrap}"\n')
    line = one_error_line(run("topics", "list", "--profile", "prod", env=env), 2)
    assert "unknown profile 'prod'" in line and "defines: live" in line
    one_error_line(run("consume", "t", "--exit-at-end", env={**env, "STREAMLOG_PROFILE": "prod"}), 2)
    write(tmp_path, f'[profiles.live]\nbootstrap = "{bootstrap}"\n[profiles.live.properties\n')
    line = one_error_line(run("topics", "list", env=env), 2)
    assert "malformed profiles file" in line and "line 3" in line


def test_show_masks_secrets(tmp_path: Path, env: dict[str, str]) -> None:
    ok(run("profile", "create", "cloud", "-b", "h:9092", "-X", "sasl.username=alice", "-X",
           "sasl.password=hunter2", "-X", "ssl.key.password=pw2", env=env))
    out = ok(run("profile", "show", "cloud", env=env))
    assert "hunter2" not in out and "pw2" not in out
    assert '"sasl.password" = "***"' in out and '"ssl.key.password" = "***"' in out
    assert '"sasl.username" = "alice"' in out
    assert "hunter2" in profiles_file(tmp_path).read_text()
