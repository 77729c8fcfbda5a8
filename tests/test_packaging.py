"""Installed as a user installs it: an editable install that type checkers can follow, the
py.typed marker, and the version the command prints."""

from __future__ import annotations

import importlib.metadata
import site
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
