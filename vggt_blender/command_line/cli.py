"""Headless command: ``blender -b -c vggt --images DIR --out scene.blend [...]``.

Registered with ``bpy.utils.register_cli_command("vggt", main)`` when the extension is enabled; from
the bpy module call ``main([...])`` directly. Runs synchronously (no timers in background mode),
imports into a new scene from factory settings (or into ``--into FILE.blend``), saves the .blend,
optionally writes a COLMAP dataset and renders a Cycles CPU preview. COLMAP's own log goes to
``SCENE_colmap.log`` beside the .blend (its warnings to stderr too), not the terminal.
Exit codes: 0 success, 1 failure (one line ``vggt: error: ...`` on stderr), 2 usage error (bad options).
The last stdout line is a JSON record (status, error, output files, timings: ``vggt_core.run.batch.result``).
``--manifest SHOTS.csv --shot-index N --out DIR`` runs one shot of a shot manifest (a farm task, ``farm/``;
``manifest_cli``). The options shared with ``vggt-reconstruct`` come from ``vggt_core.run.cli_options``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import bpy
import numpy as np

from vggt_core.run import batch, cli_options
from vggt_core.run import ProgressLog, check_output_dir
from vggt_core import InputError, VGGTError, WeightsError, one_line
from vggt_core.plate import interpolated_frames
from vggt_core.solve import write_error_graph
from vggt_core.solve import summary_line
from vggt_core.solve import colmap_log

from ..builders.cameras import UNDISTORTED_KEY, undistorted_background
from ..convert import ImportSettings
from ..runs import runs, worker
from . import manifest_cli, scene_cli

_BLEND_MAGIC = (b"BLENDER", b"\x28\xb5\x2f\xfd", b"\x1f\x8b")  # plain, zstd- and gzip-compressed .blend


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of argparse's usage block + SystemExit
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="blender -b -c vggt", description="Reconstruct cameras, depth and points with VGGT "
                "and save them as a .blend.", epilog="Exit codes: 0 success; 1 failure (one line "
                "'vggt: error: ...' on stderr, nothing saved); 2 usage error (unknown, missing or invalid options). "
                "The last line on stdout is a JSON record: status, error, out, files, frames, timings_s.")
    src = p.add_mutually_exclusive_group()  # required, but checked in main: each --options string is parsed alone
    src.add_argument("--images", metavar="DIR", help="folder of images")
    src.add_argument("--video", metavar="FILE", help="video file")
    manifest_cli.add_arguments(p, src)
    p.add_argument("--out", metavar="SCENE.blend", help="the .blend file to write (required unless --into is given)")
    p.add_argument("--into", metavar="FILE.blend", help="import into this file's active scene instead of a new "
                   "scene from factory settings; saved to --out, else back to FILE.blend (Blender keeps the "
                   "previous version as FILE.blend1)")
    p.add_argument("--export-colmap", metavar="DIR", help="also write a COLMAP dataset: DIR/images/ (the frames at "
                   "original resolution) and DIR/sparse/0/, with the points of --point-source/--conf-percentile/"
                   "--max-points")
    p.add_argument("--options", action="append", default=[], metavar="'OPTIONS'",
                   help="more options as one string, split by this command (quotes group, no shell): what farm "
                   "templates pass; repeatable, applied in order after the other options")
    # frames, model, points, cache, long shots, solve; --sensor-width (import group) serves the known lens too
    cli_options.add_arguments(p, max_points=2_000_000, sensor_width=False)
    i = p.add_argument_group("import")
    i.add_argument("--name", help="collection name (default: from the source)")
    i.add_argument("--no-cameras", action="store_true", help="no per-frame cameras")
    i.add_argument("--no-animated-camera", action="store_true", help="no animated camera")
    i.add_argument("--no-undistorted-plate", action="store_true", help="with solved distortion, keep the animated "
                   "camera plate-sized over the distorted plate (default: the overscan camera over the plate "
                   "undistorted into OUT's folder, vggt_undistorted/)")
    i.add_argument("--no-points", action="store_true", help="no point cloud")
    i.add_argument("--no-proxies", action="store_true", help="no depth proxy meshes")
    i.add_argument("--proxy-every", type=int, default=5, metavar="N", help="a depth proxy every N-th frame")
    i.add_argument("--max-proxies", type=int, default=40, metavar="N",
                   help="at most N depth proxies, spread over the shot (default 40; 0 = no limit)")
    i.add_argument("--scale", type=float, default=1.0, help="uniform scale of the imported scene (default 1)")
    i.add_argument("--sensor-width", type=float, default=36.0, metavar="MM",
                   help="camera sensor width in mm (the focal length follows from it; default 36)")
    i.add_argument("--locators", type=int, default=300, metavar="N", help="at most N solved points (with "
                   "--refine ba) as locator empties, exported with the camera (default 300; 0 = none)")
    r = p.add_argument_group("preview")
    r.add_argument("--render", metavar="PREVIEW.png", help="also render a Cycles CPU preview")
    r.add_argument("--render-samples", type=int, default=16, metavar="N")
    r.add_argument("--render-width", type=int, default=640, metavar="PX", help="height is 3/4 of it")
    scene_cli.add_arguments(p)
    return p


def _check(args: argparse.Namespace) -> None:
    """Validate paths and numbers, and create and check the output folders; raises VGGTError (one line)."""
    if args.images is not None and not os.path.isdir(args.images):
        raise InputError(f"image folder not found: {args.images}")
    if args.video is not None and not os.path.isfile(args.video):
        raise InputError(f"video file not found: {args.video}")
    if args.weights is not None and not os.path.isfile(args.weights):
        raise WeightsError(f"checkpoint file not found: {args.weights}")
    if args.into is not None:
        if not os.path.isfile(args.into):
            raise InputError(f"--into file not found: {args.into}")
        with open(args.into, "rb") as fh:
            if not fh.read(7).startswith(_BLEND_MAGIC):
                raise InputError(f"--into {args.into} is not a .blend file")
    if not args.out.endswith(".blend"):
        raise InputError(f"--out must name a .blend file, got {args.out}")
    if os.path.isdir(args.out):
        raise InputError(f"--out {args.out} is a folder: name a .blend file")
    if (min(args.proxy_every, args.max_proxies, args.max_points, args.locators) < 0
            or not 0 <= args.conf_percentile <= 100):
        raise InputError("--proxy-every, --max-proxies, --max-points and --locators must be >= 0 and "
                         "--conf-percentile within 0..100")
    if not (args.scale > 0 and args.sensor_width > 0):
        raise InputError("--scale and --sensor-width must be > 0")
    if args.render_samples < 1 or args.render_width < 16:
        raise InputError("--render-samples must be >= 1 and --render-width >= 16")
    check_output_dir(os.path.dirname(os.path.abspath(args.out)), "--out")
    if args.render:
        check_output_dir(os.path.dirname(os.path.abspath(args.render)), "--render")
    if args.export_colmap:
        check_output_dir(args.export_colmap, "--export-colmap")
    scene_cli.check(args)


def _source(args: argparse.Namespace) -> str:
    if args.weights:
        return os.path.abspath(args.weights)
    return args.model or os.environ.get("VGGT_WEIGHTS") or "facebook/VGGT-1B"


def _plan(args: argparse.Namespace) -> runs.RunPlan:
    from vggt_core import FrameSelection
    from vggt_core import ReconstructSettings

    out = os.path.abspath(args.out)
    selection = FrameSelection(stride=args.stride, start=args.start, end=args.end, max_frames=args.max_frames,
                               fps=args.fps)
    cache_dir = None if args.no_cache else os.path.abspath(args.cache_dir or os.path.join(os.path.dirname(out), "vggt_cache"))
    job = worker.Job(
        inputs=os.path.abspath(args.images or args.video),
        settings=ReconstructSettings(selection=selection, **cli_options.settings_fields(args)),
        engine=worker.EngineSpec(source=_source(args), device=args.device, dtype=args.dtype,
                                 allow_online=bool(bpy.app.online_access)),
        cache_dir=cache_dir,
    )
    settings = ImportSettings(
        per_frame_cameras=not args.no_cameras,
        animated_camera=not args.no_animated_camera,
        point_cloud=not args.no_points,
        point_source=args.point_source,
        conf_percentile=args.conf_percentile,
        max_points=args.max_points or None,
        depth_proxies=not args.no_proxies,
        proxy_every=args.proxy_every,
        max_proxies=args.max_proxies,
        sensor_width=args.sensor_width,
        scale=args.scale,
        frame_start_at=args.frame_start,
        locators=args.locators,
        undistorted_plate=not args.no_undistorted_plate,
        undistorted_dir=os.path.join(os.path.dirname(out), "vggt_undistorted"),
    )
    # the scene's first frame is read at import (a --into file's may differ: the import then writes the plate)
    return runs.planned(job, settings, args.name, scene_frame_start=1)


def _error(message: str, started: float) -> int:
    print(f"vggt: error: {message}", file=sys.stderr, flush=True)
    batch.print_result(batch.result("failed", started, error=message))
    return 1


def _load_scene(args: argparse.Namespace) -> None:
    """Open ``--into``, else start from factory settings (not the user's startup file) with no objects.

    ``read_homefile(use_factory_startup=True)`` keeps preferences and enabled add-ons (this extension and
    its CLI command stay registered; checked on bpy 5.0.1 and 4.2).
    """
    if args.into:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(args.into))
    else:
        bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)


def main(argv: list[str]) -> int:
    """Run the command with ``argv`` (the arguments after ``-c vggt``); returns the exit code."""
    started = time.monotonic()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        try:
            cli_options.apply_options(parser, args, args.options)
        except InputError as err:
            raise _UsageError(str(err)) from None
        if not (args.images or args.video or args.manifest):
            raise _UsageError("one of the arguments --images --video --manifest is required")
        if args.out is None and args.into is None:
            raise _UsageError("--out is required (or --into FILE.blend)")
        if (args.shot is not None or args.shot_index is not None) and not args.manifest:
            raise _UsageError("--shot and --shot-index need --manifest SHOTS.csv")
    except _UsageError as err:
        print(f"vggt: error: {err} (see --help)", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    shot_dir = None
    try:
        if args.manifest:
            shot_dir = manifest_cli.apply_shot(parser, args)
        args.out = args.out or args.into
        _check(args)
        plan = _plan(args)
    except VGGTError as err:
        return _error(one_line(err), started)

    log = os.path.splitext(os.path.abspath(args.out))[0] + "_colmap.log"  # COLMAP's own, beside the .blend
    if os.path.isfile(log):
        os.remove(log)  # this run's, or none (a cached solve runs no COLMAP)
    with colmap_log(log), ProgressLog("vggt", label=lambda stage: runs.describe_stage(stage, 0.0)[0]) as progress:
        final = worker.run_sync(plan.job, progress)
    if final[0] != "done":
        return _error(final[1], started)
    try:
        _load_scene(args)
    except (VGGTError, OSError, RuntimeError) as err:  # RuntimeError: a bpy operator failed
        return _error(one_line(err), started)
    scene = bpy.context.scene
    level, message, col = runs.import_final(scene, final, plan.import_settings, plan.name)
    if level != "INFO":
        return _error(message, started)
    try:  # floor, origin, scale, then the exports (COLMAP too: in the set-up world)
        with colmap_log(log):  # --export-colmap undistorts with COLMAP
            exported = scene_cli.apply(args, bpy.context, col, final[1])
    except (ValueError, VGGTError, OSError, RuntimeError) as err:
        return _error(one_line(err), started)
    out = os.path.abspath(args.out)
    bpy.ops.wm.save_as_mainfile(filepath=out, check_existing=False)
    print(f"{message}; saved {out}", file=sys.stderr)
    if args.render:
        path = os.path.abspath(args.render)
        render_preview(scene, path, samples=args.render_samples, width=args.render_width)
        print(f"vggt: preview rendered to {path}", file=sys.stderr)
    graph = None
    if final[1].solve is not None:
        print(f"vggt: camera solve: {summary_line(final[1].solve)}", file=sys.stderr)
        graph = write_error_graph(final[1].solve, os.path.splitext(out)[0] + "_solve_errors.png")
    numbers = [int(n) for n in col["vggt_frame_numbers"]]
    summary = {"frames": len(final[1].frames), "frame_numbers": numbers,
               "interpolated_frames": interpolated_frames(numbers), "timings_s": {k: round(v, 3) for k, v in final[1].timings.items()},
               "files": [os.path.abspath(p) for p in (out, args.render, graph) if p] + exported
               + ([log] if os.path.isfile(log) else [])}
    anim = next((o for o in col.all_objects if o.type == "CAMERA" and "vggt_frame" not in o), None)
    undistorted = undistorted_background(anim) if anim is not None else None
    if undistorted is not None:  # the folder the animated camera's background reads
        summary["undistorted_plate"] = undistorted.image[UNDISTORTED_KEY]
    if args.export_lens:
        with open(os.path.join(os.path.abspath(args.export_lens), "lens.json"), encoding="utf-8") as fh:
            summary["lens"] = json.load(fh)
    # the plate's frame numbers (and the lens) in the record and the farm's summary.json, beside the solve
    extra = {k: summary[k] for k in ("frame_numbers", "interpolated_frames", "lens", "undistorted_plate")
             if k in summary}
    if shot_dir is not None:  # the farm task's done marker, written last
        summary["files"].append(str(shot_dir / "summary.json"))
        batch.write_summary(shot_dir / "summary.json", batch.result("ok", started, summary, out=shot_dir,
                                                                      solve=final[1].solve, **extra))
    batch.print_result(batch.result("ok", started, summary, out=os.path.dirname(out), solve=final[1].solve, **extra))
    return 0


def _point_clouds(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    return [o for o in scene.objects if o.type == "MESH" and any(m.type == "NODES" for m in o.modifiers)]


def _world_vertices(objs: list[bpy.types.Object]) -> np.ndarray:
    """World-space vertex positions of ``objs`` (each subsampled to <= 20k), [N, 3] float64."""
    chunks = []
    for obj in objs:
        n = len(obj.data.vertices)
        if n == 0:
            continue
        co = np.empty(n * 3, dtype=np.float32)
        obj.data.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)[:: max(1, n // 20000)]
        m = np.asarray(obj.matrix_world, dtype=np.float64)
        chunks.append(co @ m[:3, :3].T + m[:3, 3])
    return np.concatenate(chunks) if chunks else np.zeros((0, 3))


def render_preview(scene: bpy.types.Scene, path: str, samples: int = 16, width: int = 640) -> None:
    """Render ``scene`` with Cycles on the CPU from a new camera that frames the reconstruction.

    Frames the point cloud (else every mesh, else the cameras): the 5th..95th percentile box, seen
    along the reconstructed cameras' mean viewing direction, slightly from above. Points get a
    radius of about one preview pixel so they show at any scene scale. The camera and radius are
    restored afterwards (the .blend is saved before this runs).
    """
    from mathutils import Vector

    from ..builders.points import RADIUS_INPUT, modifier_input, set_points_inputs

    clouds = _point_clouds(scene)
    pts = _world_vertices(clouds)
    if len(pts) == 0:
        pts = _world_vertices([o for o in scene.objects if o.type == "MESH"])
    cameras = [o for o in scene.objects if o.type == "CAMERA"]
    if len(pts) == 0:
        pts = np.array([list(o.matrix_world.translation) for o in cameras] or [[0.0, 0.0, 0.0]])
    lo, hi = np.percentile(pts, 5, axis=0), np.percentile(pts, 95, axis=0)
    center = Vector(((lo + hi) / 2).tolist())
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    forward = sum((o.matrix_world.to_3x3() @ Vector((0, 0, -1)) for o in cameras), Vector())
    forward = forward.normalized() if forward.length > 1e-6 else Vector((0, 1, 0))

    lens, sensor = 30.0, 36.0
    dist = 1.1 * radius / math.sin(math.atan(0.75 * 0.5 * sensor / lens))  # fit the vertical (narrower) FOV
    view = (forward - Vector((0, 0, 0.5))).normalized()  # look slightly down onto the scene
    cam = bpy.data.objects.new("VGGT preview", bpy.data.cameras.new("VGGT preview"))
    cam.data.sensor_fit, cam.data.sensor_width, cam.data.lens = "HORIZONTAL", sensor, lens
    cam.data.clip_start, cam.data.clip_end = dist * 1e-3, dist + 10 * radius
    cam.location = center - view * dist
    cam.rotation_euler = view.to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(cam)

    pixel = dist * sensor / lens / width  # world size of one preview pixel at the scene's centre
    radii = []
    for obj in clouds:
        mod = next(m for m in obj.modifiers if m.type == "NODES")
        radii.append(modifier_input(mod, RADIUS_INPUT))
        set_points_inputs(obj, radius=0.6 * pixel / max(obj.matrix_world.to_scale()[0], 1e-12))

    if scene.world is None:
        scene.world = bpy.data.worlds.new("VGGT preview")
    scene.world.color = (0.2, 0.2, 0.2)  # soft ambient light for the (non-emissive) depth proxies
    old_camera, scene.camera = scene.camera, cam
    hidden = [o for o in scene.objects if o.type == "MESH" and o.hide_render]  # points and proxies: reference only
    for obj in hidden:
        obj.hide_render = False
    r = scene.render
    r.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", samples
    r.resolution_x, r.resolution_y, r.resolution_percentage = width, width * 3 // 4, 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.image_settings.file_format = "PNG"
    r.filepath = path
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        bpy.ops.render.render(write_still=True, scene=scene.name)
    finally:
        scene.camera = old_camera
        for obj in hidden:
            obj.hide_render = True
        for obj, rad in zip(clouds, radii):
            set_points_inputs(obj, radius=rad)
        cam_data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(cam_data)
