"""The README's commands: each names something that exists, and runs as written from a fresh clone."""

import importlib.util
import os
import re
import shlex
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# Programs the README may call that are not part of the project.
SYSTEM_PROGRAMS = {"curl", "export", "cat", "python3", "daphne"}


def shell_commands() -> list[str]:
    """Return each command line of the README's sh blocks, without comments, `&` or line continuations."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.split(" #", 1)[0].strip().rstrip("&").strip() for line in lines if line.strip()]


def program_and_args(command: str) -> list[str]:
    """Split a command line and drop its leading VAR=value assignments (`X=$(cmd)` is `cmd`)."""
    substituted = re.fullmatch(r"[A-Z_]+=\$\((.*)\)", command)
    words = shlex.split(substituted.group(1) if substituted else command)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    return words


def check_command(words: list[str]) -> None:
    program = words[0]
    if program == ".venv/bin/python":
        check_python(words[1:])
    elif program.startswith(("scripts/", ".ci/")):
        assert os.access(ROOT / program, os.X_OK), f"{program} is not an executable file"
    else:
        assert program in SYSTEM_PROGRAMS, f"unknown program {program!r}"


def check_python(args: list[str]) -> None:
    if args[0] == "manage.py":
        assert args[1] in get_commands(), f"no management command {args[1]!r}"
    else:
        assert args[0] == "-m" and importlib.util.find_spec(args[1]), f"no module for {args}"


def test_every_shell_command_of_the_readme_names_an_existing_script_command_or_module():
    """A newcomer copying a command from the README runs something that exists, with the project's Python."""
    commands = shell_commands()
    assert any("create_service_token" in command for command in commands)
    for command in commands:
        check_command(program_and_args(command))


def test_every_management_command_the_readme_mentions_exists_and_runs_in_the_virtualenv():
    """`manage.py X` anywhere in the README names a real command, and is never run with a bare `python`."""
    mentioned = re.findall(r"manage\.py\s+([a-z_]+)", README)
    assert {"create_service_token", "prune_events", "createsuperuser"} <= set(mentioned)
    assert set(mentioned) <= set(get_commands()) | {"help"}
    assert not re.search(r"(?<![/\w])python3? manage\.py", README), "the system Python has no Django"
