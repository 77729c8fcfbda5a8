"""Installed as a user installs it: an editable install that type checkers can follow, the
py.typed marker, and the version the command prints. (The built wheel, installed outside
the tree, is checked by scripts/check_wheel.sh in CI.)"""

from __future__ import annotations

import importlib.metadata
import re
import site
import subprocess
import sys
from pathlib import Path

import pytest

import wolkvox_async


def test_py_typed_ships_with_the_package() -> None:
    assert (Path(wolkvox_async.__file__).parent / "py.typed").exists()


def test_an_editable_install_is_a_plain_path_entry() -> None:
    """mypy and IDEs follow a path in a .pth file, not an import hook (PEP 660 finders):
    with setuptools' editable install, `mypy --strict` on a user's program saw no package."""
    dist = importlib.metadata.distribution("wolkvox-async")
    direct = dist.read_text("direct_url.json") or ""
    if '"editable": true' not in direct.replace(" ", "").replace(
        '"editable":true', '"editable": true'
    ):
        pytest.skip("installed from a wheel, not editable: nothing to check")
    entries = [
        line
        for folder in [*site.getsitepackages(), site.getusersitepackages()]
        for pth in Path(folder).glob("*wolkvox_async*.pth")
        for line in pth.read_text().splitlines()
        if line.strip()
    ]
    assert entries, "no .pth file of the editable install"
    assert all(not line.startswith("import ") for line in entries), entries
    assert any(
        Path(line).resolve() == Path(wolkvox_async.__file__).parent.parent for line in entries
    )
    assert sys.modules["wolkvox_async"].__file__ is not None


def test_the_version_has_one_source() -> None:
    """pyproject.toml reads it from wolkvox_async/_version.py; the command prints it."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", wolkvox_async.__version__)
    assert importlib.metadata.version("wolkvox-async") == wolkvox_async.__version__
    done = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"wolkvox, version {wolkvox_async.__version__}"


def test_the_changelog_names_this_version() -> None:
    changelog = Path(__file__).parent.parent / "CHANGELOG.md"
    assert f"## [{wolkvox_async.__version__}]" in changelog.read_text()
