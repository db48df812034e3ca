#!/usr/bin/env bash
# Set up a fresh machine for napari-gazeseg: system libraries for a virtual
# display (Xvfb) and Qt's xcb platform, then .venv with the pinned torch builds
# and the package with its test and CRF extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

apt_packages=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
  libxcb-randr0 libxcb-xfixes0 libxcb-render-util0 libxcb-image0 libxcb-cursor0
  libxkbcommon-x11-0 libgl1 libegl1 libfontconfig1 libdbus-1-3)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null \
  || "${PIP[@]}" torch==2.14.1 torchvision==0.29.1
# sam2 ships as an sdist: build it against the torch above, without its CUDA extension
"$VENV/bin/python" -c "import sam2" 2>/dev/null \
  || SAM2_BUILD_CUDA=0 SAM2_BUILD_ALLOW_ERRORS=1 "${PIP[@]}" --no-build-isolation "sam2>=1.1"
"${PIP[@]}" -e ".[test,crf,qt]"
echo "setup: done ($("$VENV/bin/python" --version), torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'))"
