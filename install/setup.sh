#!/usr/bin/env bash
# Create/refresh the project's Python environments. Idempotent: a stamp file holding a hash of
# pyproject.toml + this script + the torch choice makes a re-run a no-op (well under a second).
#
#   .venv        Python 3.11: torch, vggt_core (editable) + [blender,test] extras (bpy 5.0.1, pytest, pycolmap)
#   .venv-bpy42  Python 3.11: bpy 4.2 LTS, pytest and vggt_core's dependencies but torch, each at the lowest
#                version pyproject.toml allows (builder and frame tests on 4.2 and those bounds); VGGT_SKIP_BPY42=1 skips it
#   .venv-py313  Python 3.13: vggt_core (editable) + [blender,test] extras (bpy 5.2 LTS) with the newest torch,
#                numpy and PyAV that pip resolves there (PyPI's default torch build); VGGT_SKIP_PY313=1 skips it
#
# Environment:
#   VGGT_TORCH=default|cpu|cu121|cu124|cu128|mps|skip   (default: "default")
#       default  pip's own index: here the local CPU wheel; on a user's Linux machine PyPI's CUDA build,
#                on macOS (Apple silicon, MPS) and Windows PyPI's default build. "mps" is an alias for it.
#       cpu/cuXXX  the PyTorch index https://download.pytorch.org/whl/<variant>
#       skip     install no torch (it must already be importable in .venv)
#   VGGT_TORCH_SPEC  torch requirement to install (default torch==2.13.0)
#   VGGT_PYTHON      Python 3.11 for .venv and .venv-bpy42 (default: python3.11, python3 or pyenv's 3.11)
#   VGGT_PYTHON313   Python 3.13 for .venv-py313 (default: python3.13, python3 or pyenv's 3.13)
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

is_python() {  # is_python INTERPRETER X.Y
    "$1" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != sys.argv[1])' "$2" 2>/dev/null
}

find_python() {  # find_python X.Y OVERRIDE -> an interpreter of that version (a pyenv shim may not run it)
    local py
    for py in "$2" "python$1" python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
        [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
        if is_python "$py" "$1"; then echo "$py"; return; fi
    done
    return 1
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

make_venv() {  # make_venv DIR INTERPRETER X.Y
    if [ ! -x "$1/bin/python" ]; then
        log "creating $1"
        "$2" -m venv "$1" || die "could not create $1 (on Debian/Ubuntu: apt-get install python$3-venv)"
    fi
    is_python "$1/bin/python" "$3" || die "$1 is not a Python $3 venv: delete it and re-run"
}

lower_bounds() {  # pyproject's runtime dependencies but torch, each at its lowest allowed version on Python 3.11
    "$PY" -c '
import tomllib
from pip._vendor.packaging.requirements import Requirement  # pip vendors the PEP 508 parser
for dep in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    req = Requirement(dep)
    if req.name != "torch" and (req.marker is None or req.marker.evaluate()):
        low = [s.version for s in req.specifier if s.operator == ">="]
        print(f"{req.name}=={low[0]}" if low else req.name)
'
}

setup_main() {
    local venv=.venv
    if is_fresh $venv; then log "$venv up to date"; return; fi
    make_venv $venv "$PY" 3.11
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
    local venv=.venv-bpy42 reqs
    if [ "${VGGT_SKIP_BPY42:-0}" = 1 ]; then log "skipping $venv (VGGT_SKIP_BPY42=1)"; return; fi
    if is_fresh $venv; then log "$venv up to date"; return; fi
    make_venv $venv "$PY" 3.11
    pip_in $venv -q -U pip
    reqs="$(lower_bounds)" || die "could not read the dependencies of pyproject.toml"
    # shellcheck disable=SC2086  # one requirement per word
    pip_in $venv "bpy==4.2.*" $reqs "pytest>=8.0"
    stamp_of $venv >$venv/.vggt-setup-stamp
    log "$venv ready"
}

setup_py313() {
    local venv=.venv-py313 py
    if [ "${VGGT_SKIP_PY313:-0}" = 1 ]; then log "skipping $venv (VGGT_SKIP_PY313=1)"; return; fi
    if is_fresh $venv; then log "$venv up to date"; return; fi
    py="$(find_python 3.13 "${VGGT_PYTHON313:-}")" || die "Python 3.13 not found (bpy 5.2 wheels are cp313 only):" \
        "install it (e.g. pyenv install 3.13), set VGGT_PYTHON313, or skip $venv with VGGT_SKIP_PY313=1"
    make_venv $venv "$py" 3.13
    pip_in $venv -q -U pip
    pip_in $venv -e ".[blender,test]"  # nothing pinned beyond pyproject: the newest torch, numpy and PyAV for 3.13
    stamp_of $venv >$venv/.vggt-setup-stamp
    log "$venv ready"
}

fresh_or_skipped() {  # fresh_or_skipped VENV SKIP_FLAG
    [ "$2" = 1 ] || is_fresh "$1"
}

# Fast path first: nothing to check or install when every stamp matches.
if is_fresh .venv && fresh_or_skipped .venv-bpy42 "${VGGT_SKIP_BPY42:-0}" \
        && fresh_or_skipped .venv-py313 "${VGGT_SKIP_PY313:-0}"; then
    log "environments up to date"; exit 0
fi
PY="$(find_python 3.11 "${VGGT_PYTHON:-}")" || die "Python 3.11 not found (bpy 4.2-5.0 wheels are cp311 only):" \
    "install python3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv) or set VGGT_PYTHON"
check_system_libs
setup_main
setup_bpy42
setup_py313
