#!/usr/bin/env bash
# Main demo: solve the bundled example plate (examples/orbit: shared lens, bundle adjustment, floor) and
# write out/demo/scene.blend, out/demo/preview.png and the camera as out/demo/camera.abc and camera.chan. Weights: facebook/VGGT-1B from Hugging Face (about 5 GB, downloaded once), or a
# local checkpoint via VGGT_WEIGHTS=/path/to/model.safetensors. Extra arguments go to run_demo.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# .venv only: the test environments (.venv-bpy42, .venv-py313 with its 6.7 GB torch) are install/test.sh's
VGGT_SKIP_BPY42=1 VGGT_SKIP_PY313=1 bash install/setup.sh
exec .venv/bin/python examples/run_demo.py --out out/demo "$@"
