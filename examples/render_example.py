"""Render the bundled example plate: a textured still life seen from 12 cameras on an arc.

Writes, under ``examples/orbit`` (or ``--out``):

* ``images/frame_0001.jpg`` ... ``frame_0012.jpg`` (480x270, JPEG quality 90, Cycles on the CPU);
* ``cameras.json``: per frame the OpenCV intrinsics ``K`` in pixels in the *continuous* convention
  (the image spans [0, W] x [0, H], pixel (col, row) has its centre at (col + 0.5, row + 0.5), a
  centred principal point is (W/2, H/2)) and the camera-from-world ``R``, ``t`` (X_cam = R X_world + t,
  OpenCV axes: x right, y down, z forward) in Blender's world frame (metres, Z up), plus a landmark
  (the centre of the small red sphere) for checks;
* ``depth.npz``: ``depth`` [12, H, W] float16 z-depth along the optical axis (metres) at each pixel
  centre, ``inf`` where the ray hits no surface. Taken from Cycles' Z pass in a second, one-sample
  render with a near-zero pixel filter so that the one sample lies on the pixel centre.

Run with the project's venv (bpy module): ``.venv/bin/python examples/render_example.py``. The
output is committed; re-rendering changes the JPEGs slightly (noise), not the geometry.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

W, H = 480, 270
N_CAMERAS = 12
LENS_MM, SENSOR_MM = 30.0, 36.0
TARGET = Vector((0.0, 0.0, 0.6))
LANDMARK = Vector((0.8, 0.2, 1.4))  # centre of the red sphere on top of the cube
LANDMARK_RADIUS = 0.08


# --- scene -------------------------------------------------------------------------------------

def _material(name: str, build) -> bpy.types.Material:
    """A material whose node tree is filled by build(nodes, links, principled_bsdf, coords).

    coords: object-space texture coordinates (no UV stretching on any face)."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # 4.x: new materials have no node tree until use_nodes (deprecated in 5.0)
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.6
    build(nodes, links, bsdf, nodes.new("ShaderNodeTexCoord").outputs["Object"])
    return mat


def _ramp(nodes, links, fac_socket, colours):
    ramp = nodes.new("ShaderNodeValToRGB")
    elements = ramp.color_ramp.elements
    for _ in range(len(colours) - 2):
        elements.new(0.5)
    for i, (element, colour) in enumerate(zip(elements, colours)):
        element.position, element.color = i / (len(colours) - 1), (*colour, 1.0)
    links.new(fac_socket, ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _textured(nodes, links, kind: str, coords):
    tex = nodes.new(kind)
    links.new(coords, tex.inputs["Vector"])
    return tex


def _noise_tinted(nodes, links, colour_socket, coords, scale: float):
    """colour x fractal noise colour: breaks up flat or repetitive patterns (better for matching)."""
    noise = _textured(nodes, links, "ShaderNodeTexNoise", coords)
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = 15.0
    noise.inputs["Distortion"].default_value = 0.4
    mix = nodes.new("ShaderNodeMix")
    mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
    mix.inputs["Factor"].default_value = 0.8
    sockets = {s.identifier: s for s in (*mix.inputs, *mix.outputs)}  # names repeat per data type
    links.new(colour_socket, sockets["A_Color"])
    links.new(noise.outputs["Color"], sockets["B_Color"])
    return sockets["Result_Color"]


def _ground(nodes, links, bsdf, coords):
    checker = _textured(nodes, links, "ShaderNodeTexChecker", coords)
    checker.inputs["Scale"].default_value = 1.0
    checker.inputs["Color1"].default_value = (0.8, 0.75, 0.6, 1)
    checker.inputs["Color2"].default_value = (0.25, 0.3, 0.35, 1)
    links.new(_noise_tinted(nodes, links, checker.outputs["Color"], coords, 6.0), bsdf.inputs["Base Color"])


def _bricks(nodes, links, bsdf, coords):
    brick = _textured(nodes, links, "ShaderNodeTexBrick", coords)
    brick.inputs["Scale"].default_value = 8.0
    brick.inputs["Mortar Size"].default_value = 0.03
    brick.inputs["Color1"].default_value = (0.7, 0.25, 0.1, 1)
    brick.inputs["Color2"].default_value = (0.45, 0.3, 0.2, 1)
    brick.inputs["Mortar"].default_value = (0.35, 0.35, 0.3, 1)
    links.new(_noise_tinted(nodes, links, brick.outputs["Color"], coords, 4.0), bsdf.inputs["Base Color"])


def _voronoi(nodes, links, bsdf, coords):
    vor = _textured(nodes, links, "ShaderNodeTexVoronoi", coords)
    vor.inputs["Scale"].default_value = 5.0
    links.new(_ramp(nodes, links, vor.outputs["Distance"], [(0.05, 0.2, 0.6), (0.3, 0.8, 0.9), (1.0, 1.0, 0.9)]),
              bsdf.inputs["Base Color"])


def _noise(nodes, links, bsdf, coords):
    noise = _textured(nodes, links, "ShaderNodeTexNoise", coords)
    noise.inputs["Scale"].default_value = 8.0
    noise.inputs["Detail"].default_value = 10.0
    links.new(_ramp(nodes, links, noise.outputs["Fac"], [(0.1, 0.4, 0.1), (0.9, 0.8, 0.2), (0.5, 0.1, 0.4)]),
              bsdf.inputs["Base Color"])


def _magic(nodes, links, bsdf, coords):
    magic = _textured(nodes, links, "ShaderNodeTexMagic", coords)
    magic.inputs["Scale"].default_value = 3.0
    magic.turbulence_depth = 3
    links.new(magic.outputs["Color"], bsdf.inputs["Base Color"])


def _red_emitter(nodes, links, bsdf, coords):
    bsdf.inputs["Base Color"].default_value = (1, 0, 0, 1)
    bsdf.inputs["Emission Color"].default_value = (1, 0, 0, 1)
    bsdf.inputs["Emission Strength"].default_value = 4.0


def _add(op, material, **kwargs) -> bpy.types.Object:
    op(**kwargs)
    obj = bpy.context.active_object
    obj.data.materials.append(material)
    return obj


def build_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.ops.mesh
    _add(mesh.primitive_plane_add, _material("Ground", _ground), size=12)
    _add(mesh.primitive_cube_add, _material("Bricks", _bricks), size=1.3, location=(0.8, 0.2, 0.65),
         rotation=(0, 0, 0.4))
    _add(mesh.primitive_uv_sphere_add, _material("Voronoi", _voronoi), radius=0.7, location=(-1.1, 0.4, 0.7),
         segments=48, ring_count=24)
    bpy.ops.object.shade_smooth()
    monkey = _add(mesh.primitive_monkey_add, _material("Noise", _noise), size=1.0, location=(0.0, -1.1, 0.55),
                  rotation=(math.radians(-10), 0, math.radians(-20)))
    monkey.modifiers.new("Smooth", "SUBSURF").levels = 1
    bpy.ops.object.shade_smooth()
    _add(mesh.primitive_cylinder_add, _material("Magic", _magic), radius=0.3, depth=1.4, location=(1.6, -1.2, 0.7),
         vertices=48)
    _add(mesh.primitive_uv_sphere_add, _material("Landmark", _red_emitter), radius=LANDMARK_RADIUS,
         location=tuple(LANDMARK))

    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy, sun.data.angle = 2.5, math.radians(3)
    sun.rotation_euler = (math.radians(40), 0, math.radians(-60))
    scene.collection.objects.link(sun)
    scene.world = bpy.data.worlds.new("Sky")
    if scene.world.node_tree is None:
        scene.world.use_nodes = True
    background = scene.world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.55, 0.65, 0.8, 1)
    background.inputs["Strength"].default_value = 0.7
    return scene


def add_cameras(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """N_CAMERAS on a 120-degree arc (radius 6.5 m, 2.8 m up) looking at TARGET."""
    cams = []
    for i in range(N_CAMERAS):
        azimuth = math.radians(-150 + 120 * i / (N_CAMERAS - 1))
        cam = bpy.data.objects.new(f"Camera_{i + 1:04d}", bpy.data.cameras.new(f"Camera_{i + 1:04d}"))
        cam.data.lens, cam.data.sensor_width, cam.data.sensor_fit = LENS_MM, SENSOR_MM, "HORIZONTAL"
        cam.location = (6.5 * math.cos(azimuth), 6.5 * math.sin(azimuth), 2.8 + 0.3 * math.sin(3 * azimuth))
        cam.rotation_euler = (TARGET - cam.location).to_track_quat("-Z", "Y").to_euler()
        scene.collection.objects.link(cam)
        cams.append(cam)
    bpy.context.view_layer.update()
    return cams


# --- cameras: Blender -> OpenCV (shared/blender-notes.md §2, in reverse) ------------------------

def opencv_camera(cam: bpy.types.Object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K [3,3] continuous convention, R [3,3], t [3]) of a Blender camera with square pixels."""
    data = cam.data
    assert data.sensor_fit == "HORIZONTAL" and abs(cam.matrix_world.to_scale().length - math.sqrt(3)) < 1e-6
    fx = data.lens / data.sensor_width * W
    cx, cy = W / 2 - data.shift_x * W, H / 2 + data.shift_y * W  # pixel aspect 1: ycor = 1
    K = np.array([[fx, 0, cx], [0, fx, cy], [0, 0, 1]])
    m = np.array(cam.matrix_world)
    cam_to_world = m[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # Blender camera axes (-Z forward, +Y up) -> OpenCV
    R = cam_to_world.T
    return K, R, -R @ m[:3, 3]


# --- rendering -----------------------------------------------------------------------------------

def configure(scene: bpy.types.Scene, samples: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.max_bounces = 4
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = W, H, 100
    scene.view_settings.view_transform = "Standard"
    scene.view_layers[0].use_pass_z = True
    try:
        scene.cycles.use_denoising, scene.cycles.denoiser = True, "OPENIMAGEDENOISE"
    except TypeError:  # a build without OIDN
        scene.cycles.use_denoising = False


def set_format(scene: bpy.types.Scene, kind: str) -> None:
    """'JPEG' (quality 90) or 'EXR' (float32 multilayer, all passes) for Image.save_render."""
    settings = scene.render.image_settings
    multilayer = kind == "EXR"
    if hasattr(settings, "media_type"):  # 5.0: the format lists depend on the media type
        settings.media_type = "MULTI_LAYER_IMAGE" if multilayer else "IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER" if multilayer else "JPEG"
    if multilayer:
        settings.color_depth = "32"
    else:
        settings.quality, settings.color_mode = 90, "RGB"


def render_depth(scene: bpy.types.Scene, exr: Path) -> np.ndarray:
    """Z pass [H, W] float32 of a one-sample render whose sample sits on each pixel centre."""
    keep = scene.cycles.samples, scene.cycles.filter_width, scene.cycles.use_denoising
    scene.cycles.samples, scene.cycles.filter_width, scene.cycles.use_denoising = 1, 0.01, False
    set_format(scene, "EXR")
    scene.render.filepath = str(exr)
    bpy.ops.render.render(write_still=True)  # Image.save_render would write the Combined pass only
    scene.cycles.samples, scene.cycles.filter_width, scene.cycles.use_denoising = keep
    return read_exr_depth(exr)


def read_exr_depth(exr: Path) -> np.ndarray:
    """The depth channel of a Blender multilayer EXR, via the OpenImageIO bundled with Blender."""
    site = Path(bpy.utils.resource_path("LOCAL")) / "python" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    if str(site) not in sys.path:  # on sys.path inside Blender, not in the bpy module
        sys.path.append(str(site))
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(exr))
    part, depth = 0, None
    while depth is None and inp.seek_subimage(part, 0):  # one part per pass
        names = list(inp.spec().channelnames)
        if names == ["ViewLayer.Depth.Z"] or (len(names) == 1 and names[0].endswith("Depth.Z")):
            depth = np.asarray(inp.read_image(format="float"), dtype=np.float32).reshape(H, W)
        part += 1
    inp.close()
    assert depth is not None, f"no Depth.Z pass in {exr}"
    depth[depth >= 1e9] = np.inf  # background
    return depth


def check_depth_is_z(scene: bpy.types.Scene, K, R, t, depth: np.ndarray, rng: np.random.Generator) -> float:
    """Worst relative error between the Z pass and ray-cast z-depth at random pixel centres."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    centre = Vector(-R.T @ t)
    errors = []
    for _ in range(40):
        row, col = int(rng.integers(0, H)), int(rng.integers(0, W))
        if not np.isfinite(depth[row, col]):
            continue
        ray = R.T @ np.linalg.solve(K, [col + 0.5, row + 0.5, 1.0])
        hit, location, *_ = scene.ray_cast(depsgraph, centre, Vector(ray / np.linalg.norm(ray)))
        if hit:
            z = (R @ np.array(location) + t)[2]
            errors.append(abs(z - depth[row, col]) / z)
    return float(np.median(errors)), float(np.percentile(errors, 90))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "orbit")
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0, help="render threads (0 = all cores)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    scene = build_scene()
    cams = add_cameras(scene)
    configure(scene, args.samples)
    if args.threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", args.threads
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames, depths = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, cam in enumerate(cams):
            scene.camera = cam
            name = f"frame_{i + 1:04d}.jpg"
            set_format(scene, "JPEG")
            bpy.ops.render.render()
            bpy.data.images["Render Result"].save_render(str(args.out / "images" / name), scene=scene)
            K, R, t = opencv_camera(cam)
            depth = render_depth(scene, Path(tmp) / "depth.exr")
            median, p90 = check_depth_is_z(scene, K, R, t, depth, rng)
            assert p90 < 1e-3, f"{name}: Z pass differs from the ray-cast z-depth (median {median:.2e}, p90 {p90:.2e})"
            depths.append(depth.astype(np.float16))
            frames.append({"file": f"images/{name}", "width": W, "height": H,
                           "K": K.tolist(), "R": R.tolist(), "t": t.tolist()})
            print(f"{name}: {time.perf_counter() - t0:.1f} s, depth check median {median:.1e}", flush=True)
    np.savez_compressed(args.out / "depth.npz", depth=np.stack(depths))
    meta = {
        "description": "Cycles render of a textured still life; ground truth for tests and the demo",
        "conventions": {
            "K": "OpenCV pinhole, pixels, continuous: image spans [0,W]x[0,H], pixel centres at i+0.5",
            "R,t": "camera-from-world, X_cam = R @ X_world + t, OpenCV camera axes, Blender world (Z up, metres)",
            "depth": "depth.npz['depth'] [N,H,W] float16 z along the optical axis at pixel centres, inf = background",
        },
        "landmarks": {"red_sphere": {"xyz": list(LANDMARK), "radius": LANDMARK_RADIUS}},
        "frames": frames,
    }
    (args.out / "cameras.json").write_text(json.dumps(meta, indent=1))
    print(f"rendered {len(frames)} frames to {args.out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
