"""End-to-end demo with the bpy module: frames -> VGGT -> a camera solve -> a .blend, ready to deliver.

    python examples/run_demo.py --out out/demo                      # facebook/VGGT-1B (downloads ~5 GB once)
    python examples/run_demo.py --out out/demo --weights model.safetensors
    python examples/run_demo.py --out out/demo --images my_photos/
    python examples/run_demo.py --out out/demo --tiny               # smoke test: random tiny model, no download

Without --images it reconstructs the bundled plate ``examples/orbit/images`` (12 views rendered by
``examples/render_example.py``) with the default settings, as a matchmover would: the lens model and camera motion
chosen automatically, VGGT's tracks refined on the plate and solved by bundle adjustment (the solve's verdict and
error are printed), the floor found and set to Z = 0,
and the camera exported. Writes ``<out>/scene.blend``, ``<out>/scene_solve_errors.png`` (the per-frame
error graph), ``<out>/preview.png``, ``<out>/camera.abc`` and ``<out>/camera.chan``; COLMAP's own log goes to
``<out>/scene_colmap.log``, not the terminal.
Running this script counts as allowing online access (for the weights download): pass --offline to
use only already-downloaded or local weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bpy  # noqa: E402


def tiny_checkpoint(path: Path) -> Path:
    """A tiny VGGT with synthetic weights (smoke test only: its geometry is meaningless)."""
    from vggt_core.network import synthetic_init_
    from vggt_core import VGGT, VGGTConfig
    from vggt_core import save_checkpoint

    return save_checkpoint(synthetic_init_(VGGT(config=VGGTConfig.tiny()), seed=0), path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--images", default=str(REPO / "examples" / "orbit" / "images"), help="image folder (default: the bundled plate)")
    p.add_argument("--weights", help="local checkpoint file")
    p.add_argument("--model", help="Hugging Face repo id (default facebook/VGGT-1B)")
    p.add_argument("--tiny", action="store_true", help="random tiny model: a quick smoke test, meaningless geometry")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-frames", default="16")
    p.add_argument("--offline", action="store_true", help="never download weights")
    args = p.parse_args(argv)

    import vggt_blender
    from vggt_blender.command_line import cli

    out = Path(args.out).resolve()
    images = Path(args.images)
    bpy.context.preferences.system.use_online_access = not args.offline
    vggt_blender.register()  # the extension's code straight from the source tree
    try:
        weights = ["--weights", str(tiny_checkpoint(out / "tiny.safetensors"))] if args.tiny else []
        weights += ["--weights", args.weights] if args.weights else []
        weights += ["--model", args.model] if args.model else []
        return cli.main(["--images", str(images), "--out", str(out / "scene.blend"), *weights,
                         "--device", args.device, "--dtype", args.dtype, "--max-frames", args.max_frames,
                         "--floor", "auto", "--export-camera", str(out / "camera.abc"),
                         "--export-camera", str(out / "camera.chan"), "--render", str(out / "preview.png")])
    finally:
        vggt_blender.unregister()


if __name__ == "__main__":
    sys.exit(main())
