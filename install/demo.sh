#!/usr/bin/env bash
# Main demo: reconstruct the bundled example plate (examples/orbit) and write out/demo/scene.blend and
# out/demo/preview.png. Weights: facebook/VGGT-1B from Hugging Face (about 5 GB, downloaded once), or a
# local checkpoint via VGGT_WEIGHTS=/path/to/model.safetensors. Extra arguments go to run_demo.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash install/setup.sh
exec .venv/bin/python examples/run_demo.py --out out/demo "$@"
