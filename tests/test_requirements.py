"""Every module the service imports is installed by requirements.txt, which is all `scripts/run` installs."""

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
SERVICE_CODE = ["notifications", "project", "manage.py"]
OWN_PACKAGES = {"notifications", "project", "bench", "tests"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for entry in SERVICE_CODE:
        path = ROOT / entry
        for source in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - OWN_PACKAGES


def _runtime_distributions() -> set[str]:
    """Return requirements.txt's distributions and, recursively, what they require (extras named there included)."""
    wanted = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            wanted.append(Requirement(line))
    found: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = _normalized(requirement.name)
        if name in found:
            continue
        found.add(name)
        for dependency in metadata.requires(requirement.name) or []:
            needed = Requirement(dependency)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                wanted.append(needed)
    return found


def test_every_module_the_service_imports_comes_with_requirements_txt():
    """A module installed only by requirements-test.txt would pass the tests and fail `scripts/run`."""
    providers = metadata.packages_distributions()
    runtime = _runtime_distributions()
    missing = {
        module: providers.get(module, ["?"])
        for module in _imported_top_level_modules()
        if not {_normalized(name) for name in providers.get(module, [])} & runtime
    }
    assert missing == {}, f"imported by the service but not installed by requirements.txt: {missing}"
