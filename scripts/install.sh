#!/usr/bin/env bash
# One-command install on a fresh Debian 12 machine: Debian packages, then a virtual environment
# in .venv with mestudio and everything it needs.  Usage: scripts/install.sh [--dev]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
extras="all"
[[ "${1:-}" == "--dev" ]] && extras="all,dev"

sudo_=""
[[ "$(id -u)" != 0 ]] && sudo_="sudo"
pkgs=$(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF{print $1}')
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [[ -n "$missing" ]]; then
  echo "[install] Debian packages: $(echo $missing | tr '\n' ' ')"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

py="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip
# torch first, pinned: 2.13.0 is the CPU build on these machines; anything else pulls CUDA.
$pip install -q torch==2.13.0
$pip install -q -e ".[$extras]"
# mediapipe's numpy-2 build declares jax/jaxlib, which face mesh never uses: install it alone, at the
# pin of pyproject's face-mesh extra.
face_mesh=$(.venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["face-mesh"])')
$pip install -q --no-deps $face_mesh
echo "[install] done: $(.venv/bin/mestudio --version)"
