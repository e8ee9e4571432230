"""Named cluster profiles: where profiles.toml is, reading and checking it, writing it back, which
profile a command uses, the precedence of its settings against the environment and the flags, and the
``streamlog profile`` command (no broker: clients are replaced by recorders)."""

from __future__ import annotations

import argparse
import contextlib
import stat
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.cli import common, consume, produce
from streamlog.cli.base import CliError
from streamlog.cli.client_properties import COMMAND_CONFIG_ENV
from streamlog.cli.main import main
from streamlog.cli.profiles import (
    PROFILE_ENV,
    PROFILES_PATH_ENV,
    Profile,
    ProfileFile,
    active_profile,
    dumps,
    load,
    parse,
    profiles_path,
)
from streamlog.cli.schema_http import REGISTRY_ENV, registry_of

PROD = """\
current = "prod"

[profiles.prod]
bootstrap = "prod:9092"
registry = "https://reg.example:8081"

[profiles.prod.properties]
"security.protocol" = "SASL_SSL"
sasl.mechanisms = "PLAIN"
sasl.username = "alice"
sasl.password = "s3cret"
"socket.timeout.ms" = 1234
"enable.ssl.certificate.verification" = false

[profiles.dev]
bootstrap = "dev:9092"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: HOME in tmp_path, and none of the variables that pick settings."""
    for name in (PROFILE_ENV, PROFILES_PATH_ENV, "XDG_CONFIG_HOME", COMMAND_CONFIG_ENV, common.BOOTSTRAP_ENV,
                 REGISTRY_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write_profiles(home: Path, text: str) -> Path:
    path = home / ".config" / "streamlog" / "profiles.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def args_of(**values: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {"bootstrap": None, "client_properties": [], "command_config": None,
                                "profile": None, "registry": None}
    return argparse.Namespace(**{**defaults, **values})


# --- where the file is -----------------------------------------------------------------------------


def test_the_file_is_under_xdg_config_home_or_home_unless_named() -> None:
    in_home = Path("/h/.config/streamlog/profiles.toml")
    assert profiles_path({"HOME": "/h"}) == in_home
    assert profiles_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/streamlog/profiles.toml")
    assert profiles_path({"HOME": "/h", "XDG_CONFIG_HOME": "rel"}) == in_home, \
        "a relative XDG_CONFIG_HOME is ignored, as the XDG spec says"
    named = {"HOME": "/h", "XDG_CONFIG_HOME": "/x", PROFILES_PATH_ENV: "/p.toml"}
    assert profiles_path(named) == Path("/p.toml")


# --- reading ---------------------------------------------------------------------------------------


def test_reading_flattens_dotted_keys_and_stringifies_scalars(home: Path) -> None:
    file = load(write_profiles(home, PROD))
    assert file.exists and file.current == "prod" and list(file.profiles) == ["prod", "dev"]
    prod = file.profiles["prod"]
    assert prod.bootstrap == "prod:9092" and prod.registry == "https://reg.example:8081"
    assert prod.properties == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
        "sasl.password": "s3cret", "socket.timeout.ms": "1234",
        "enable.ssl.certificate.verification": "false"}
    assert file.profiles["dev"] == Profile("dev", "dev:9092")


def test_a_missing_file_is_empty(home: Path) -> None:
    file = load(home / "nothing.toml")
    assert not file.exists and file.profiles == {} and file.current is None


def test_malformed_toml_is_one_usage_error_with_its_line(home: Path) -> None:
    path = write_profiles(home, 'current = "a"\n\n[profiles.a\nbootstrap = "x:1"\n')
    with pytest.raises(CliError) as caught:
        load(path)
    assert caught.value.exit_code == 2
    assert str(path) in caught.value.message and "line 3" in caught.value.message


@pytest.mark.parametrize(("text", "expected"), [
    ('[profiles.a]\nbootstrap = "x:1"\nbootstrap_servers = "y"\n', "unknown key 'bootstrap_servers'"),
    ('[profiles.a]\nregistry = "http://r"\n', "has no bootstrap"),
    ('[profiles.a]\nbootstrap = 9092\n', "bootstrap must be a non-empty string"),
    ('[profiles.a]\nbootstrap = "x:1"\n[profiles.a.properties]\n"bootstrap.servers" = "y:2"\n',
     "not as property bootstrap.servers"),
    ('[profiles.a]\nbootstrap = "x:1"\n[profiles.a.properties]\n"sasl.password" = [1]\n',
     "property sasl.password must be a string"),
    ('[profiles.a]\nbootstrap = "x:1"\n[profiles.a.properties]\n"a.b" = "1"\na.b = "2"\n',
     "property a.b is given twice"),
    ('current = 1\n', "current must be"),
    ('profiles = "x"\n', "profiles must be a table"),
    ('[profile.a]\nbootstrap = "x:1"\n', "unknown top-level key 'profile'"),
])
def test_a_misshapen_file_is_a_usage_error(home: Path, text: str, expected: str) -> None:
    with pytest.raises(CliError) as caught:
        load(write_profiles(home, text))
    assert caught.value.exit_code == 2 and expected in caught.value.message, caught.value.message
    assert "[1]" not in caught.value.message


def test_a_relative_command_config_is_relative_to_the_file(home: Path) -> None:
    path = write_profiles(home, '[profiles.a]\nbootstrap = "x:1"\ncommand_config = "cloud.properties"\n')
    assert load(path).profiles["a"].command_config == str(path.parent / "cloud.properties")


# --- writing ---------------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_stripped = _text.filter(str.strip)
_properties = st.dictionaries(_text.filter(lambda k: k != "bootstrap.servers"), _text, max_size=4)


@given(current=st.none() | _text,
       profiles=st.dictionaries(_text, st.tuples(_stripped, st.none() | _stripped, _properties), max_size=3))
def test_what_is_written_reads_back(current: str | None,
                                    profiles: dict[str, tuple[str, str | None, dict[str, str]]]) -> None:
    file = ProfileFile(Path("/p/profiles.toml"), exists=True, current=current or None, profiles={
        name: Profile(name, bootstrap.strip(), registry.strip() if registry else None, None, properties)
        for name, (bootstrap, registry, properties) in profiles.items()})
    assert parse(tomllib.loads(dumps(file)), file.path) == file


# --- which profile, and precedence -----------------------------------------------------------------


def test_no_file_and_no_name_is_no_profile(home: Path) -> None:
    assert active_profile(args_of()) is None
    assert common.bootstrap_of(args_of()) == common.DEFAULT_BOOTSTRAP


def test_the_flag_beats_the_environment_which_beats_current(home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write_profiles(home, PROD + '\n[profiles.ci]\nbootstrap = "ci:1"\n')
    assert common.bootstrap_of(args_of()) == "prod:9092"
    monkeypatch.setenv(PROFILE_ENV, "dev")
    assert common.bootstrap_of(args_of()) == "dev:9092"
    assert common.bootstrap_of(args_of(profile="ci")) == "ci:1"


@pytest.mark.parametrize(("profile", "env", "expected"), [
    ("nope", {}, "unknown profile 'nope' (from --profile)"),
    (None, {PROFILE_ENV: "nope"}, "unknown profile 'nope' (from $STREAMLOG_PROFILE)"),
])
def test_an_unknown_profile_is_a_usage_error_naming_the_known_ones(
        home: Path, monkeypatch: pytest.MonkeyPatch, profile: str | None, env: dict[str, str],
        expected: str) -> None:
    write_profiles(home, PROD)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CliError) as caught:
        common.properties_of(args_of(profile=profile))
    assert caught.value.exit_code == 2
    assert expected in caught.value.message and "defines: dev, prod" in caught.value.message


def test_an_unknown_current_profile_is_a_usage_error(home: Path) -> None:
    write_profiles(home, 'current = "gone"\n[profiles.a]\nbootstrap = "x:1"\n')
    with pytest.raises(CliError, match="unknown profile 'gone' \\(from current in"):
        common.bootstrap_of(args_of())


def test_naming_a_profile_without_a_file_is_a_usage_error(home: Path) -> None:
    with pytest.raises(CliError, match="there is no profiles file") as caught:
        common.bootstrap_of(args_of(profile="prod"))
    assert caught.value.exit_code == 2


def test_property_precedence(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile_file, env_file, flag_file = (home / f"{n}.properties" for n in ("profile", "env", "flag"))
    profile_file.write_text("client.id=profile-file\nreceive.message.max.bytes=1\nfetch.wait.max.ms=1\n"
                            "socket.keepalive.enable=true\n")
    env_file.write_text("fetch.wait.max.ms=2\nlinger.ms=2\nsocket.keepalive.enable=false\n")
    flag_file.write_text("linger.ms=3\nretries=3\n")
    write_profiles(home, PROD.replace('[profiles.prod.properties]',
                                      'command_config = "../../profile.properties"\n'
                                      '[profiles.prod.properties]\n"client.id" = "profile"\n"retries" = "0"\n'
                                      '"receive.message.max.bytes" = "9"'))
    assert common.properties_of(args_of())["client.id"] == "profile", "properties beat the profile's file"
    monkeypatch.setenv(COMMAND_CONFIG_ENV, str(env_file))
    merged = common.properties_of(args_of())
    assert merged["receive.message.max.bytes"] == "9" and merged["fetch.wait.max.ms"] == "2"
    assert merged["socket.keepalive.enable"] == "false", "the environment's file beats the profile"
    merged = common.properties_of(args_of(command_config=str(flag_file),
                                          client_properties=[("retries", "4")]))
    assert merged["linger.ms"] == "3", "--command-config beats the profile"
    assert merged["fetch.wait.max.ms"] == "1", "--command-config replaces the environment's file"
    assert merged["retries"] == "4", "-X beats every file and the profile's properties"
    assert merged["security.protocol"] == "SASL_SSL" and merged["client.id"] == "profile"


def test_bootstrap_precedence(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_profiles(home, PROD)
    assert common.bootstrap_of(args_of()) == "prod:9092"
    monkeypatch.setenv(common.BOOTSTRAP_ENV, "env:1")
    assert common.bootstrap_of(args_of()) == "env:1", "$STREAMLOG_BOOTSTRAP beats the profile"
    assert common.bootstrap_of(args_of(client_properties=[("bootstrap.servers", "x:2")])) == "x:2"
    both = args_of(bootstrap="flag:3", client_properties=[("bootstrap.servers", "x:2")])
    assert common.bootstrap_of(both) == "flag:3"


def test_a_bad_port_in_a_profile_is_refused(home: Path) -> None:
    write_profiles(home, '[profiles.a]\nbootstrap = "x:99999"\n')
    with pytest.raises(CliError, match="invalid port"):
        common.bootstrap_of(args_of(profile="a"))


def test_registry_precedence(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_profiles(home, PROD)
    assert registry_of(args_of()) == "https://reg.example:8081"
    assert registry_of(args_of(profile="dev")) == "http://localhost:8081", "dev has no registry"
    monkeypatch.setenv(REGISTRY_ENV, "env-reg:1")
    assert registry_of(args_of()) == "http://env-reg:1"
    assert registry_of(args_of(registry="flag-reg:2")) == "http://flag-reg:2"


# --- through the command line ----------------------------------------------------------------------


class Stop(Exception):
    """Raised by a fake client once its config has been recorded."""


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}

    def admin(config: dict[str, Any]) -> Any:
        seen["admin"] = config
        topic = SimpleNamespace(partitions={0: None}, error=None)
        return SimpleNamespace(list_topics=lambda timeout=0: SimpleNamespace(topics={"t": topic}),
                               poll=lambda _t=0: None)

    def client(kind: str) -> Any:
        def factory(config: dict[str, Any]) -> Any:
            seen[kind] = config
            raise Stop
        return factory

    monkeypatch.setattr(common, "AdminClient", admin)
    monkeypatch.setattr(produce, "Producer", client("producer"))
    monkeypatch.setattr(consume, "Consumer", client("consumer"))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=iter([])))
    return seen


@pytest.mark.parametrize(("argv", "kind"), [(["produce", "t"], "producer"),
                                            (["consume", "t", "--group", "g"], "consumer")])
def test_the_profile_reaches_every_client(home: Path, configs: dict[str, dict[str, Any]], argv: list[str],
                                          kind: str) -> None:
    write_profiles(home, PROD)
    with contextlib.suppress(Stop):
        main([*argv, "-X", "sasl.username=bob"])
    for name in ("admin", kind):
        assert configs[name]["bootstrap.servers"] == "prod:9092"
        assert configs[name]["security.protocol"] == "SASL_SSL" and configs[name]["sasl.username"] == "bob"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_profile_command(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = home / "c.properties"
    conf.write_text("security.protocol=SSL\n")
    code, out, _ = run(capsys, "profile", "create", "local", "-b", "localhost:9092", "-X", "client.id=me",
                       "-X", "ssl.key.password=hunter2", "--registry", "http://r:1",
                       "--command-config", str(conf))
    assert code == 0 and "now the current profile" in out
    path = home / ".config" / "streamlog" / "profiles.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run(capsys, "profile", "create", "prod", "-b", "prod:9092")[0] == 0
    code, out, _ = run(capsys, "profile", "list")
    assert out.splitlines() == ["* local  localhost:9092", "  prod   prod:9092"]

    code, out, _ = run(capsys, "profile", "show", "local")
    shown = tomllib.loads(out)["profiles"]["local"]
    assert shown["properties"] == {"client.id": "me", "ssl.key.password": "***"}
    assert "hunter2" not in out and shown["command_config"] == str(conf) and shown["registry"] == "http://r:1"

    assert run(capsys, "profile", "use", "prod")[0] == 0
    assert load(path).current == "prod"
    assert run(capsys, "profile", "delete", "prod")[0] == 0
    file = load(path)
    assert file.current is None and list(file.profiles) == ["local"]
    assert file.profiles["local"].properties["ssl.key.password"] == "hunter2", "stored, only shown masked"


@pytest.mark.parametrize(("argv", "code", "expected"), [
    (["profile", "use", "nope"], 2, "unknown profile 'nope'"),
    (["profile", "show", "nope"], 2, "unknown profile 'nope'"),
    (["profile", "delete", "nope"], 2, "unknown profile 'nope'"),
    (["profile", "create", "a", "-b", "x:1"], 1, "profile 'a' already exists"),
    (["profile", "create", "b/c", "-b", "x:1"], 2, "bad profile name"),
    (["profile", "create", "b", "-b", "x:0"], 2, "invalid port"),
    (["profile", "create", "b", "-b", "x:1", "-X", "bootstrap.servers=y:1"], 2, "not -X bootstrap.servers"),
    (["profile", "create", "b", "-b", "x:1", "--command-config", "/no/such"], 2,
     "cannot read command config"),
    (["topics", "list", "--profile", "nope"], 2, "unknown profile 'nope' (from --profile)"),
])
def test_profile_mistakes_are_one_line(home: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                       code: int, expected: str) -> None:
    write_profiles(home, '[profiles.a]\nbootstrap = "x:1"\n')
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamlog: error: ") and expected in lines[0], err


def test_every_client_command_takes_profile() -> None:
    from streamlog.cli.main import build_parser

    parser = build_parser()
    for argv in (["topics", "list"], ["produce", "t"], ["consume", "t"], ["groups", "list"],
                 ["cluster", "info"], ["schema", "list"], ["streams", "reset", "app", "--input-topics", "t"]):
        assert parser.parse_args([*argv, "--profile", "p"]).profile == "p", argv
