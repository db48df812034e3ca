#!/usr/bin/env bash
# Check the Tobii adapter's SDK expectations against the real tobii-research 2.1.0.
# The SDK ships wheels for Python 3.10 only, so this runs in its own venv
# (.venv310) with just tobii-research, numpy and pytest; PYTHONPATH=src makes
# napari_gazeseg.tracking.tobii importable without napari, Qt or torch.
set -euo pipefail
cd "$(dirname "$0")/.."

PY310=""
if command -v python3.10 >/dev/null 2>&1 && python3.10 -c "" >/dev/null 2>&1; then
    PY310="$(command -v python3.10)"
else
    for candidate in /root/.pyenv/versions/3.10.*/bin/python3.10; do
        if [ -x "$candidate" ]; then PY310="$candidate"; break; fi
    done
fi
if [ -z "$PY310" ]; then
    echo "Tobii contract test skipped: no Python 3.10"
    exit 0
fi

VENV310="${VENV310:-.venv310}"
if [ ! -x "$VENV310/bin/python" ] || ! "$VENV310/bin/python" -c "import tobii_research, numpy, pytest" 2>/dev/null; then
    if ! { "$PY310" -m venv "$VENV310" && "$VENV310/bin/pip" install -q "tobii-research==2.1.0" numpy pytest; }; then
        rm -rf "$VENV310"
        echo "Tobii contract test skipped: could not install tobii-research==2.1.0 (no package index?)"
        exit 0
    fi
fi

# -o addopts= : the project's pytest options name plugins this small venv lacks;
# --confcutdir keeps conftest files that import napari out of this run.
PYTHONPATH=src "$VENV310/bin/python" -m pytest -q -p no:cacheprovider -o addopts= \
    --confcutdir=tests/contract tests/contract/test_tobii_sdk_contract.py
