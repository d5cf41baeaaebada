"""Settings: one table of NOTIFY_* defaults, every knob settable from the environment, all of them documented."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from notifications import conf

ROOT = Path(__file__).resolve().parent.parent


def readme_variables() -> set[str]:
    """Return every variable named in the first column of the README's Configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def settings_module_variables() -> set[str]:
    """Return the variables project/settings.py reads by name (besides the table's)."""
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "project" / "settings.py").read_text()))


def test_the_readme_documents_exactly_the_knobs_of_the_defaults_table():
    """A NOTIFY_* variable is in the README's table if and only if it is in conf.SETTINGS."""
    documented = {name for name in readme_variables() if name.startswith("NOTIFY_")}
    assert documented - set(conf.SETTINGS) == set(), "documented but not read"
    assert set(conf.SETTINGS) - documented == set(), "read but not documented"


def test_the_readme_documents_every_other_variable_the_settings_read():
    """DJANGO_* and DATABASE_* variables read in project/settings.py are in the README's table, and only those."""
    others = {name for name in readme_variables() if not name.startswith("NOTIFY_")}
    assert settings_module_variables() == others


def test_every_knob_is_read_from_the_environment_with_its_type():
    """Each NOTIFY_* variable set in the environment reaches django.conf.settings, parsed as its table says."""
    samples = {str: ("x-sample", "x-sample"), int: ("7", 7), float: ("2.5", 2.5), list: ("a,b", ["a", "b"])}
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.update({name: samples[knob.kind][0] for name, knob in conf.SETTINGS.items()})
    env["NOTIFY_AMQP_URL"] = ""  # a URL would make the settings build a RabbitMQ layer; "" is still read
    env["NOTIFY_AMQP_LOG_LEVEL"] = "ERROR"  # the logging config must accept it
    script = (
        "import django, json; django.setup(); from django.conf import settings; from notifications import conf; "
        "print(json.dumps({n: getattr(settings, n) for n in conf.SETTINGS}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout

    read = json.loads(output.splitlines()[-1])
    for name, knob in conf.SETTINGS.items():
        expected = {"NOTIFY_AMQP_URL": "", "NOTIFY_AMQP_LOG_LEVEL": "ERROR"}.get(name, samples[knob.kind][1])
        assert read[name] == expected, name


def test_accessors_read_overridden_settings_at_call_time(settings):
    """A test (or a reload) that changes a setting changes what the code sees, without a restart."""
    settings.NOTIFY_FRAME_BURST = 3
    assert conf.frame_burst() == 3
    del settings.NOTIFY_FRAME_BURST
    assert conf.frame_burst() == conf.SETTINGS["NOTIFY_FRAME_BURST"].default


def test_each_default_has_the_type_its_variable_is_parsed_as():
    """The table cannot say int and give a string: every default (but an unset optional one) is of its kind."""
    for name, knob in conf.SETTINGS.items():
        assert knob.default is None or isinstance(knob.default, knob.kind), name
        assert knob.meaning and "\n" not in knob.meaning, name
