#!/usr/bin/env bash
# Create/refresh the project's Python environments. Idempotent: a stamp file holding a hash of
# pyproject.toml + this script + the torch choice makes a re-run a no-op (well under a second).
#
#   .venv        Python 3.11: torch, vggt_core (editable) + [blender,test] extras (bpy 5.0.1, pytest, pycolmap)
#   .venv-bpy42  Python 3.11: bpy 4.2 LTS, numpy<2, pillow, pytest (builder tests against 4.2); VGGT_SKIP_BPY42=1 skips it
#
# Environment:
#   VGGT_TORCH=default|cpu|cu121|cu124|cu128|mps|skip   (default: "default")
#       default  pip's own index: here the local CPU wheel; on a user's Linux machine PyPI's CUDA build,
#                on macOS (Apple silicon, MPS) and Windows PyPI's default build. "mps" is an alias for it.
#       cpu/cuXXX  the PyTorch index https://download.pytorch.org/whl/<variant>
#       skip     install no torch (it must already be importable in .venv)
#   VGGT_TORCH_SPEC  torch requirement to install (default torch==2.13.0)
#   VGGT_PYTHON      python 3.11 interpreter to create the venvs with (default: python3.11, else python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/install/setup.sh"
cd "$ROOT"
VARIANT="${VGGT_TORCH:-default}"
TORCH_SPEC="${VGGT_TORCH_SPEC:-torch==2.13.0}"
APT_LINE="apt-get install -y libx11-6 libxi6 libxfixes3 libxrender1 libxkbcommon0 libsm6 libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri"

die() { echo "setup.sh: error: $*" >&2; exit 1; }
log() { echo "setup.sh: $*"; }

stamp_of() {  # stamp_of VENV -> hash of everything that decides what VENV contains
    local extra=""
    [ "$1" = .venv ] && extra="$VARIANT $TORCH_SPEC"
    { cat pyproject.toml "$SELF"; echo "$1 $extra"; } | sha256
}
sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1; }
is_fresh() { [ -x "$1/bin/python" ] && [ -f "$1/.vggt-setup-stamp" ] && [ "$(cat "$1/.vggt-setup-stamp")" = "$(stamp_of "$1")" ]; }

pip_in() {  # pip_in VENV ARGS... ; one-line diagnosis on failure (pip's own output stays above it)
    "$1/bin/python" -m pip install --disable-pip-version-check "${@:2}" \
        || die "pip install ${*:2} failed in $1 (is the package registry reachable? see pip's output above)"
}

find_python() {
    local py
    for py in "${VGGT_PYTHON:-}" python3.11 python3; do
        [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
        if "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then echo "$py"; return; fi
    done
    die "Python 3.11 not found (bpy wheels are cp311 only): install python3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv) or set VGGT_PYTHON"
}

check_system_libs() {  # bpy's shared-library needs (Linux only); see shared/blender-notes.md §1
    [ "$(uname -s)" = Linux ] && command -v ldconfig >/dev/null 2>&1 || return 0
    local have missing="" lib
    have="$(ldconfig -p)"
    for lib in libX11.so.6 libXi.so.6 libxkbcommon.so.0 libSM.so.6 libGL.so.1 libEGL.so.1 libXrender.so.1 libXfixes.so.3; do
        grep -q "$lib" <<<"$have" || missing="$missing ${lib%%.so*}"
    done
    [ -z "$missing" ] || die "system libraries needed by bpy are missing:$missing; run: sudo $APT_LINE"
}

make_venv() {  # make_venv DIR
    if [ ! -x "$1/bin/python" ]; then
        log "creating $1"
        "$PY" -m venv "$1" || die "could not create $1 (on Debian/Ubuntu: apt-get install python3.11-venv)"
    fi
    "$1/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || die "$1 is not a Python 3.11 venv: delete it and re-run"
}

setup_main() {
    local venv=.venv
    if is_fresh $venv; then log "$venv up to date"; return; fi
    make_venv $venv
    pip_in $venv -q -U pip setuptools wheel
    case "$VARIANT" in
        default|mps) pip_in $venv "$TORCH_SPEC" ;;
        cpu|cu121|cu124|cu128) pip_in $venv "$TORCH_SPEC" --index-url "https://download.pytorch.org/whl/$VARIANT" ;;
        skip) $venv/bin/python -c 'import torch' 2>/dev/null \
                  || die "VGGT_TORCH=skip but torch is not importable in $venv: install it there first" ;;
        *) die "VGGT_TORCH=$VARIANT: expected default, cpu, cu121, cu124, cu128, mps or skip" ;;
    esac
    pip_in $venv -e ".[blender,test]"
    stamp_of $venv >$venv/.vggt-setup-stamp
    log "$venv ready"
}

setup_bpy42() {
    local venv=.venv-bpy42
    if [ "${VGGT_SKIP_BPY42:-0}" = 1 ]; then log "skipping $venv (VGGT_SKIP_BPY42=1)"; return; fi
    if is_fresh $venv; then log "$venv up to date"; return; fi
    make_venv $venv
    pip_in $venv -q -U pip
    pip_in $venv "bpy==4.2.*" "numpy>=1.26,<2" pillow "pytest>=8.0"
    stamp_of $venv >$venv/.vggt-setup-stamp
    log "$venv ready"
}

# Fast path first: nothing to check or install when both stamps match.
if is_fresh .venv && { [ "${VGGT_SKIP_BPY42:-0}" = 1 ] || is_fresh .venv-bpy42; }; then
    log "environments up to date"; exit 0
fi
PY="$(find_python)"
check_system_libs
setup_main
setup_bpy42
