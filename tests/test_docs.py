"""The documentation site covers what it must: every public name has a place in the API
reference, and every recipe the site shows is a file under examples/ that a test runs.
(CI builds the site with ``mkdocs build --strict``: a broken link, anchor or reference
fails it.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import wolkvox_async

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def directives() -> set[str]:
    """The objects the reference pages render (``::: path``)."""
    found: set[str] = set()
    for page in (DOCS / "reference").glob("*.md"):
        found |= set(re.findall(r"^::: (\S+)", page.read_text(), re.MULTILINE))
    return found


def test_every_public_name_is_in_the_reference() -> None:
    shown = directives()
    # the subpackages rendered whole (their __all__), besides names rendered one by one
    modules = [importlib.import_module(p) for p in shown if p.count(".") == 1 and p[14].islower()]
    assert {m.__name__ for m in modules} >= {
        "wolkvox_async.models",
        "wolkvox_async.bulk",
        "wolkvox_async.scheduler",
        "wolkvox_async.testing",
        "wolkvox_async.otel",
    }
    missing = [
        name
        for name in wolkvox_async.__all__
        if f"wolkvox_async.{name}" not in shown
        and not any(name in getattr(m, "__all__", ()) for m in modules)
    ]
    assert not missing, f"not in docs/reference: {missing}"


def test_every_recipe_on_the_site_is_a_tested_file() -> None:
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    included = set(re.findall(r'--8<-- "(examples/[\w./]+)"', pages))
    tested = (ROOT / "tests" / "test_examples.py").read_text()
    assert included >= {
        "examples/quickstart.py",
        "examples/fastapi_service.py",
        "examples/nightly_loader.py",
        "examples/redis_workers.py",
    }
    for path in included:
        assert (ROOT / path).is_file(), path
        assert Path(path).stem in tested, f"{path} is on the site but no test runs it"
