#!/usr/bin/env bash
# The project's test command (README and .ci/run): set up the environments, then run pytest in each:
#   .venv        Python 3.11, bpy 5.0: every test (tests/blender/test_bpy42.py runs the builder and
#                frame tests in .venv-bpy42, bpy 4.2 LTS with the lowest dependency versions allowed)
#   .venv-py313  Python 3.13, bpy 5.2 LTS and the newest torch/numpy/PyAV: the same tests but test_bpy42
#                (VGGT_SKIP_PY313=1 skips this run, as it skips the environment)
# Extra arguments go to both pytest runs, e.g. `bash install/test.sh tests/core -x`. Exits non-zero when
# any run fails; "no tests collected" (pytest exit 5, e.g. a filter that matched nothing) is not a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash install/setup.sh

rc=0
summaries=()
closing="$(mktemp)"  # each run's closing line, for the total
trap 'rm -f "$closing"' EXIT
run_pytest() {  # run_pytest VENV PYTEST_ARGS...
    local venv=$1 status=0 start=$SECONDS versions log
    shift
    versions="$("$venv/bin/python" -c 'import sys, numpy, torch, av, bpy
print(f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, torch {torch.__version__}, PyAV {av.__version__}, bpy {bpy.app.version_string}")')"
    echo "install/test.sh: $venv: $versions"
    log="$(mktemp)"
    "$venv/bin/python" -m pytest -q -rs "$@" | tee "$log" || status=${PIPESTATUS[0]}
    if [ "$status" -eq 5 ]; then
        echo "install/test.sh: $venv: pytest collected no tests"
        status=0
    fi
    [ "$status" -eq 0 ] || rc=1
    summaries+=("$venv ($versions): $(tail -n 1 "$log") [exit $status, $((SECONDS - start)) s]")
    tail -n 1 "$log" >>"$closing"
    rm -f "$log"
}

run_pytest .venv "$@"
if [ "${VGGT_SKIP_PY313:-0}" != 1 ]; then
    run_pytest .venv-py313 --ignore=tests/blender/test_bpy42.py "$@"
fi
echo "install/test.sh: summary"
printf '  %s\n' "${summaries[@]}"
awk '{ for (i = 2; i <= NF; i++) { k = $i; sub(/,$/, "", k); sub(/^error$/, "errors", k); n[k] += $(i - 1) } }
     END { printf "total: %d passed, %d failed, %d skipped\n", n["passed"], n["failed"] + n["errors"], n["skipped"] }' \
    "$closing"
exit "$rc"
