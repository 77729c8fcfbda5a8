#!/usr/bin/env bash
# Build the sdist and the wheel, check them, and try the wheel as a user gets it: installed
# in a fresh virtual environment outside the checkout, then `wolkvox --version` and a short
# `wolkvox demo` run from there. Run by .ci/run after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quiet() {  # run "$@" with its output kept, shown only if it fails
  "$@" >"$work/step.log" 2>&1 || { cat "$work/step.log" >&2; return 1; }
}
# build and twine in an environment of their own: twine's dependencies (docutils) would
# otherwise replace what other tools of the Python running CI rely on.
quiet "$PY" -m venv "$work/tools"
quiet "$work/tools/bin/python" -m pip install --disable-pip-version-check build twine
quiet "$work/tools/bin/python" -m build --sdist --wheel --outdir "$work/dist" .
"$work/tools/bin/python" -m twine check --strict "$work"/dist/*

version=$("$PY" -c 'import runpy; print(runpy.run_path("wolkvox_async/_version.py")["__version__"])')
wheel=$(ls "$work"/dist/wolkvox_async-"$version"-py3-none-any.whl)
sdist=$(ls "$work"/dist/wolkvox_async-"$version".tar.gz)

# What the wheel holds: the package and its marker, no tests, no checkout paths.
"$PY" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "wolkvox_async/py.typed" in names, "py.typed is missing from the wheel"
assert "wolkvox_async/otel.py" in names
assert not [n for n in names if n.startswith("tests/")], "the wheel ships the tests"
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(sys.argv[1]).read(meta).decode()
for needed in ("License-Expression: MIT", "Classifier: Typing :: Typed",
               "Project-URL: Documentation", "Provides-Extra: otel", "Requires-Python: >=3.11"):
    assert needed in text, f"METADATA lacks {needed!r}"
print(f"wheel: {len(names)} files, metadata complete")
PY
listing=$(tar -tzf "$sdist")
for needed in CHANGELOG.md LICENSE mkdocs.yml; do
  grep -qx "wolkvox_async-$version/$needed" <<<"$listing" \
    || { echo "the sdist lacks $needed" >&2; exit 1; }
done

# A fresh environment, away from the checkout: nothing can be imported from the tree.
"$PY" -m venv "$work/venv"
quiet "$work/venv/bin/python" -m pip install --disable-pip-version-check "$wheel[cli]"
cd "$work"
shown=$("$work/venv/bin/wolkvox" --version)
[ "$shown" = "wolkvox, version $version" ] || { echo "wolkvox --version said: $shown" >&2; exit 1; }
where=$("$work/venv/bin/python" -c 'import wolkvox_async as w; print(w.__file__, w.__version__)')
case "$where" in
  "$work/venv/"*" $version") ;;
  *) echo "wolkvox_async was imported from $where" >&2; exit 1 ;;
esac
"$work/venv/bin/wolkvox" demo --records 2000 --results 3000 --days 40 --latency-ms 5 --json \
  >"$work/demo.json"
"$work/venv/bin/python" - "$work/demo.json" <<'PY'
import json, sys
print("demo from the wheel:", json.load(open(sys.argv[1])))
PY
echo "wheel $version: built, checked, installed outside the tree, ran"
