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


def _documented_arguments(doc: str) -> set[str]:
    """The names a Google-style docstring's ``Args:`` section documents."""
    section = doc.split("Args:\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^    (\w+):", section, re.MULTILINE))


def test_each_client_setting_is_documented_once() -> None:
    """Issue 33.3: a setting was described in four places (the client's docstring, the
    config's, the README's table, docs/client.md) that drifted apart. Now: ClientConfig's
    attribute docstrings, rendered into the reference; the client's docstring documents
    only what is not a setting; the README and the guide link to them."""
    import ast
    import inspect

    import attrs

    settings = {field.name for field in attrs.fields(wolkvox_async.ClientConfig)}
    source = ast.parse((ROOT / "wolkvox_async" / "_config.py").read_text())
    [config] = [n for n in source.body if isinstance(n, ast.ClassDef) and n.name == "ClientConfig"]
    described = {
        node.target.id
        for node, after in zip(config.body, config.body[1:], strict=False)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
    }  # fmt: skip
    assert described == settings  # every setting has its docstring, there

    client_doc = inspect.getdoc(wolkvox_async.WolkvoxClient.__init__) or ""
    arguments = _documented_arguments(client_doc)
    parameters = set(inspect.signature(wolkvox_async.WolkvoxClient.__init__).parameters)
    assert not arguments & settings, arguments & settings  # not a second time
    assert arguments | settings == parameters - {"self"}  # and nothing left out
    assert "ClientConfig" in client_doc

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration") :].split("\n## ", 1)[0]
    assert "|---|" not in section and "docs/reference/client.md" in section  # no table
    guide = (DOCS / "client.md").read_text()
    assert "reference/client.md#wolkvox_async.ClientConfig" in guide
    for words in ("compression bomb", "underscores_in_headers", "ASCII digits"):
        assert words not in guide and words not in section, words  # the details: once
