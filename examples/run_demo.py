"""End-to-end demo with the bpy module: frames -> VGGT -> a .blend with cameras, points and proxies.

    python examples/run_demo.py --out out/demo                      # facebook/VGGT-1B (downloads ~5 GB once)
    python examples/run_demo.py --out out/demo --weights model.safetensors
    python examples/run_demo.py --out out/demo --images my_photos/
    python examples/run_demo.py --out out/demo --tiny               # smoke test: random tiny model, no download

Without --images it first renders a small synthetic scene (coloured, textured objects on a checker
floor) from 8 orbiting viewpoints with Cycles, so the demo needs no data. Writes
``<out>/frames/*.png`` (when rendered), ``<out>/scene.blend`` and ``<out>/preview.png``.
Running this script counts as allowing online access (for the weights download): pass --offline to
use only already-downloaded or local weights.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bpy  # noqa: E402


def render_demo_frames(folder: Path, views: int = 8, width: int = 384, samples: int = 16) -> Path:
    """Render ``views`` images of a synthetic scene orbiting it at 35 degrees elevation."""
    from mathutils import Vector

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene

    def material(name: str, color: tuple[float, float, float], checker: bool = False) -> bpy.types.Material:
        mat = bpy.data.materials.new(name)
        if mat.node_tree is None:  # Blender 4.x; 5.0 materials come with a node tree
            mat.use_nodes = True
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = nodes["Principled BSDF"]
        # Texture detail gives the network something to match between views.
        tex = nodes.new("ShaderNodeTexChecker" if checker else "ShaderNodeTexNoise")
        if checker:
            tex.inputs["Scale"].default_value = 12.0
            tex.inputs["Color1"].default_value = (*color, 1.0)
            tex.inputs["Color2"].default_value = (0.9, 0.9, 0.85, 1.0)
            links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        else:
            tex.inputs["Scale"].default_value = 6.0
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            mix.inputs["A"].default_value = (*color, 1.0)
            mix.inputs["B"].default_value = tuple(0.3 * c for c in color) + (1.0,)
            links.new(tex.outputs["Fac"], mix.inputs["Factor"])
            links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
        return mat

    bpy.ops.mesh.primitive_plane_add(size=8)
    bpy.context.object.data.materials.append(material("floor", (0.15, 0.2, 0.35), checker=True))
    shapes = [("cube", (0.0, 0.0, 0.5), (0.8, 0.25, 0.1)), ("uv_sphere", (1.6, 0.6, 0.6), (0.1, 0.6, 0.2)),
              ("cylinder", (-1.3, 0.9, 0.7), (0.7, 0.6, 0.1)), ("cone", (0.4, -1.6, 0.6), (0.5, 0.1, 0.6)),
              ("cube", (-1.2, -1.2, 0.3), (0.1, 0.4, 0.8))]
    for i, (kind, loc, color) in enumerate(shapes):
        getattr(bpy.ops.mesh, f"primitive_{kind}_add")(location=loc)
        obj = bpy.context.object
        obj.scale = (0.6,) * 3 if kind != "cube" or i else (1.0, 0.7, 0.5)
        obj.rotation_euler[2] = 0.4 * i
        obj.data.materials.append(material(f"m{i}", color))
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.7, 0.2, 0.8)
    scene.collection.objects.link(sun)
    scene.world = bpy.data.worlds.new("sky")
    scene.world.color = (0.4, 0.45, 0.5)

    cam = bpy.data.objects.new("orbit", bpy.data.cameras.new("orbit"))
    cam.data.lens = 30.0
    scene.collection.objects.link(cam)
    scene.camera = cam
    r = scene.render
    r.engine, scene.cycles.device, scene.cycles.samples = "CYCLES", "CPU", samples
    r.resolution_x, r.resolution_y, r.resolution_percentage = width, width * 3 // 4, 100
    r.image_settings.file_format = "PNG"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(views):
        angle = 2 * math.pi * k / views * 0.5 - 0.8  # half an orbit: every view overlaps its neighbours
        cam.location = Vector((6.5 * math.cos(angle), 6.5 * math.sin(angle), 4.5))
        cam.rotation_euler = (Vector((0, 0, 0.4)) - cam.location).to_track_quat("-Z", "Y").to_euler()
        r.filepath = str(folder / f"view_{k:02d}.png")
        bpy.ops.render.render(write_still=True)
        print(f"run_demo: rendered {r.filepath}", flush=True)
    return folder


def tiny_checkpoint(path: Path) -> Path:
    """A random tiny VGGT (smoke test only: its geometry is meaningless)."""
    import torch

    from vggt_core.models.vggt import VGGT, VGGTConfig
    from vggt_core.weights import save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(VGGT(config=VGGTConfig.tiny()), path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--images", help="use these images instead of rendering the synthetic scene")
    p.add_argument("--weights", help="local checkpoint file")
    p.add_argument("--model", help="Hugging Face repo id (default facebook/VGGT-1B)")
    p.add_argument("--tiny", action="store_true", help="random tiny model: a quick smoke test, meaningless geometry")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-frames", default="16")
    p.add_argument("--offline", action="store_true", help="never download weights")
    args = p.parse_args(argv)

    import vggt_blender
    from vggt_blender import cli

    out = Path(args.out).resolve()
    images = Path(args.images) if args.images else render_demo_frames(out / "frames")
    bpy.context.preferences.system.use_online_access = not args.offline
    vggt_blender.register()  # the extension's code straight from the source tree
    try:
        weights = ["--weights", str(tiny_checkpoint(out / "tiny.safetensors"))] if args.tiny else []
        weights += ["--weights", args.weights] if args.weights else []
        weights += ["--model", args.model] if args.model else []
        return cli.main(["--images", str(images), "--out", str(out / "scene.blend"), *weights,
                         "--device", args.device, "--dtype", args.dtype, "--max-frames", args.max_frames,
                         "--render", str(out / "preview.png")])
    finally:
        vggt_blender.unregister()


if __name__ == "__main__":
    sys.exit(main())
