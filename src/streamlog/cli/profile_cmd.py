"""``streamlog profile``: list, show, choose, create and delete named cluster profiles.

Theory of operation: each subcommand reads the profiles file (profiles.py: where it is, its shape),
and ``use``, ``create`` and ``delete`` write it back whole, in one step, readable by its owner only.
Writing keeps every profile and setting but not the file's comments or layout.  ``show`` prints one
profile as the TOML it is stored as, with secret property values (passwords, JAAS configs, inline
keys) masked as ``***``.  The first profile created becomes the current one, as without a current
profile (or ``--profile``/``$STREAMLOG_PROFILE``) none is used; later ones need ``use``.  An unknown
profile is a usage error (exit 2), like an unknown flag.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Final

from streamlog.cli.base import CliError, key_value
from streamlog.cli.client_properties import read_properties_file
from streamlog.cli.profiles import PROFILE_ENV, Profile, ProfileFile, dumps, load, profiles_path, save

RAW: Final = argparse.RawDescriptionHelpFormatter
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
EXAMPLES: Final = """examples:
  streamlog profile create local --bootstrap localhost:9092
  streamlog profile create prod -b pkc-xxxxx.confluent.cloud:9092 --command-config ~/cloud.properties \\
      --registry https://psrc-xxxxx.confluent.cloud
  streamlog profile use prod
  streamlog topics list --profile local
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "profile", help="named cluster profiles: list, show, use, create, delete",
        description="Named cluster profiles (bootstrap address, client properties, registry), kept in\n"
                    f"{profiles_path()}.\nEvery client command takes --profile NAME "
                    f"(default ${PROFILE_ENV}, else the current profile).",
        epilog=EXAMPLES, formatter_class=RAW)
    commands = parser.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser("list", help="list the profiles (* marks the one in use)",
                                  epilog="examples:\n  streamlog profile list\n", formatter_class=RAW)
    listing.set_defaults(handler=run_list)

    show = commands.add_parser("show", help="print a profile (secret values masked)",
                               epilog="examples:\n  streamlog profile show\n  streamlog profile show prod\n",
                               formatter_class=RAW)
    show.add_argument("name", metavar="NAME", nargs="?", help="profile to show (default: the one in use)")
    show.set_defaults(handler=run_show)

    use = commands.add_parser("use", help="make a profile the current one",
                              epilog="examples:\n  streamlog profile use prod\n", formatter_class=RAW)
    use.add_argument("name", metavar="NAME")
    use.set_defaults(handler=run_use)

    create = commands.add_parser("create", help="add a profile (the first one becomes current)",
                                 epilog="examples:\n  streamlog profile create local -b localhost:9092\n"
                                        "  streamlog profile create prod -b kafka.example.com:9093 "
                                        "-X security.protocol=SSL --registry https://registry.example.com\n",
                                 formatter_class=RAW)
    create.add_argument("name", metavar="NAME")
    create.add_argument("--bootstrap", "-b", metavar="HOST:PORT", required=True,
                        help="the cluster's bootstrap address")
    create.add_argument("-X", dest="client_properties", metavar="KEY=VALUE", type=key_value,
                        action="append", default=[], help="client property, librdkafka's name (repeatable)")
    create.add_argument("--registry", metavar="URL", default=None,
                        help="schema registry of this cluster (for schema commands and schema-aware "
                             "produce/consume)")
    create.add_argument("--command-config", metavar="FILE", default=None,
                        help="Java client properties file for this profile (stored as an absolute path)")
    create.set_defaults(handler=run_create)

    delete = commands.add_parser("delete", help="remove a profile",
                                 epilog="examples:\n  streamlog profile delete old-cluster\n",
                                 formatter_class=RAW)
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=run_delete)


def _in_use(file: ProfileFile) -> str | None:
    return os.environ.get(PROFILE_ENV, "").strip() or file.current


def run_list(_args: argparse.Namespace) -> int:
    file = load(profiles_path())
    if not file.profiles:
        print(f"no profiles in {file.path} (add one with 'streamlog profile create')", file=sys.stderr)
        return 0
    in_use = _in_use(file)
    width = max(len(name) for name in file.profiles)
    for name in sorted(file.profiles):
        profile = file.profiles[name]
        mark = "*" if name == in_use else " "
        print(f"{mark} {name:<{width}}  {profile.bootstrap}".rstrip())
    return 0


def run_show(args: argparse.Namespace) -> int:
    file = load(profiles_path())
    name: str | None = args.name or _in_use(file)
    if name is None:
        raise CliError(f"no profile is in use; name one (profiles in {file.path}: "
                       f"{', '.join(sorted(file.profiles)) or 'none'})", 2)
    profile = file.require(name)
    text = dumps(ProfileFile(file.path, profiles={name: profile.masked()}))
    sys.stdout.write(text.split("\n", 1)[1].lstrip("\n"))
    return 0


def run_use(args: argparse.Namespace) -> int:
    file = load(profiles_path())
    file.require(args.name)
    file.current = args.name
    save(file)
    print(f"current profile: {args.name}")
    overridden = os.environ.get(PROFILE_ENV, "").strip()
    if overridden and overridden != args.name:
        print(f"note: ${PROFILE_ENV}={overridden} still takes precedence in this shell", file=sys.stderr)
    return 0


def run_create(args: argparse.Namespace) -> int:
    from streamlog.cli.common import check_bootstrap

    name: str = args.name
    if not _NAME.fullmatch(name):
        raise CliError(f"bad profile name {name!r} (letters, digits, '_', '-', '.'; "
                       "starting with a letter or digit)", 2)
    properties = dict(args.client_properties)
    if "bootstrap.servers" in properties:
        raise CliError("give the address with --bootstrap, not -X bootstrap.servers", 2)
    command_config = None
    if args.command_config:
        command_config = str(Path(args.command_config).expanduser().resolve())
        read_properties_file(command_config)  # fails now, not at every later command
    profile = Profile(name, check_bootstrap(args.bootstrap.strip()), args.registry or None, command_config,
                      properties)
    file = load(profiles_path())
    if name in file.profiles:
        raise CliError(f"profile {name!r} already exists in {file.path} (delete it first)")
    file.profiles[name] = profile
    first = file.current is None
    if first:
        file.current = name
    save(file)
    print(f"created profile {name} in {file.path}" + (" (now the current profile)" if first else ""))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    file = load(profiles_path())
    file.require(args.name)
    del file.profiles[args.name]
    if file.current == args.name:
        file.current = None
    save(file)
    print(f"deleted profile {args.name}")
    return 0
