#!/usr/bin/env bash
# Creates the Python environment of the reference checks (PyTorch, transformers, PEFT, TRL,
# sentence-transformers; test/reference/requirements.txt) in .venv-reference, or in $1. pip's own
# configuration names the package index; on the project's machines a file:// mirror, which is then
# used as the index so that pip does not retry the unreachable public one. Exits 1, saying why,
# when the packages cannot be installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-.venv-reference}
requirements=test/reference/requirements.txt
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "reference venv: $venv is up to date"
  exit 0
fi
index=$(pip config list 2>/dev/null | grep -o "file://[^ ']*" | head -n 1)
args=()
[ -n "$index" ] && args=(--index-url "$index")
started=$(date +%s)
if ! python3 -m venv "$venv"; then
  echo "reference venv: python3 -m venv failed" >&2
  exit 1
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${args[@]}" -r "$requirements"; then
  echo "reference venv: pip could not install $requirements${index:+ from $index}" >&2
  exit 1
fi
cp "$requirements" "$venv/requirements.txt"
echo "reference venv: $venv ready in $(( $(date +%s) - started )) s"
