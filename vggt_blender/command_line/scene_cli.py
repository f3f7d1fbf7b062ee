"""Scene setup and exports for the headless command (``blender -b -c vggt ...``).

``add_arguments`` adds the options, ``check`` validates them before the model runs, ``apply`` sets up
the imported scene (floor, then origin, then scale) and writes the exports, in that order.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import bpy
import numpy as np

from vggt_core.run import ProgressLog, check_output_dir
from vggt_core import InputError

from ..builders.redistort import REDISTORT_KEY
from ..convert import setup as su
from ..deliver.camera import CAMERA_FORMATS, export_camera
from ..deliver.lens import export_lens, lens_package_dir, redistort_scene
from ..deliver.points import export_colmap, export_points_glb
from ..operators import qc_ops, setup_ops

if TYPE_CHECKING:
    from vggt_core import Reconstruction


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("scene setup (applied in this order)")
    g.add_argument("--floor", choices=("auto",), help="auto: the largest plane the cameras look down on becomes "
                   "Z = 0, cameras above")
    g.add_argument("--origin", choices=("floor-centre", "first-camera"), help="move the world origin to the "
                   "floor's centre, or to the floor below the first camera (needs --floor)")
    s = g.add_mutually_exclusive_group()
    s.add_argument("--scale-camera-height", type=float, metavar="M", help="scale so the cameras' mean height "
                   "above the floor is M (needs --floor)")
    s.add_argument("--scale-distance", type=float, nargs=7, metavar=("X1", "Y1", "Z1", "X2", "Y2", "Z2", "M"),
                   help="scale so two points of the imported scene (world coordinates before the setup) are M apart")
    e = parser.add_argument_group("exports (after the setup)")
    e.add_argument("--export-camera", action="append", default=[], metavar="PATH",
                   help="the animated camera, baked to world space: .abc, .usd/.usda/.usdc, .fbx, .chan "
                   "(Nuke) or .nk (a Nuke QC script: the camera over the undistorted plate); repeatable. Each gets its lens package beside it (shot.abc -> shot_lens/)")
    e.add_argument("--export-points", metavar="PATH.glb", help="the coloured point cloud as GLB")
    e.add_argument("--export-lens", metavar="DIR", help="the lens package: lens.json and Nuke STMap EXRs "
                   "(undistort, redistort) from the solved distortion (identity without one)")
    e.add_argument("--undistort-plate", action="store_true", help="with --export-lens: also the undistorted "
                   "plate, DIR/undistorted/undistorted.NNNN.png|exr on the import's frame numbers")
    e.add_argument("--redistort-scene", metavar="DIR", help="the lens package in DIR and a plate-sized scene "
                   "'NAME redistort' in the saved .blend that renders the scene through the camera and redistorts "
                   "it onto the plate's lens (blender -b OUT.blend -S 'NAME redistort' -a)")
    e.add_argument("--qc-render", metavar="PATH.mp4", help="a QC playblast (H.264): the solved points and a ground "
                   "grid through the animated camera over the (undistorted) plate, frame numbers burnt in")


def check(args: argparse.Namespace) -> None:
    """Raise InputError (one line) for inconsistent options; create and check the export folders."""
    if (args.origin or args.scale_camera_height is not None) and not args.floor:
        raise InputError("--origin and --scale-camera-height need --floor")
    if args.scale_camera_height is not None and not args.scale_camera_height > 0:
        raise InputError("--scale-camera-height must be > 0")
    if args.scale_distance is not None and not args.scale_distance[6] > 0:
        raise InputError("--scale-distance: the distance must be > 0")
    for path in args.export_camera:
        if os.path.splitext(path)[1].lower() not in CAMERA_FORMATS:
            raise InputError(f"--export-camera {path}: use .abc, .usd, .usda, .usdc, .fbx, .chan or .nk")
        check_output_dir(os.path.dirname(os.path.abspath(path)), "--export-camera")
    if args.export_points:
        if not args.export_points.lower().endswith(".glb"):
            raise InputError(f"--export-points must name a .glb file, got {args.export_points}")
        check_output_dir(os.path.dirname(os.path.abspath(args.export_points)), "--export-points")
    if args.undistort_plate and not args.export_lens:
        raise InputError("--undistort-plate needs --export-lens DIR")
    if args.export_lens:
        check_output_dir(args.export_lens, "--export-lens")
    if args.redistort_scene:
        check_output_dir(args.redistort_scene, "--redistort-scene")
    if args.qc_render:
        if not args.qc_render.lower().endswith(".mp4"):
            raise InputError(f"--qc-render must name an .mp4 file, got {args.qc_render}")
        check_output_dir(os.path.dirname(os.path.abspath(args.qc_render)), "--qc-render")


def apply(args: argparse.Namespace, context: bpy.types.Context, collection: bpy.types.Collection,
          recon: "Reconstruction | None" = None) -> list[str]:
    """Set up the import in ``collection``, then write the exports (``--export-colmap`` too, from
    ``recon``, in the set-up world); returns the paths written. Reports each step on stderr. Raises
    ValueError (one line) when a step cannot be done (e.g. no floor found)."""
    root = next(o for o in collection.objects if o.get(setup_ops.ROOT_KEY))
    layer = context.view_layer
    layer.update()
    if args.scale_distance is not None:  # measured before the rigid steps, which keep distances
        v = np.asarray(args.scale_distance)
        factor = su.distance_scale(v[:3], v[3:6], v[6])
    if args.floor:
        d, centre = setup_ops.auto_floor(root)
        setup_ops.apply_to_root(root, d, layer)
        if args.origin == "floor-centre":
            setup_ops.apply_to_root(root, su.origin_transform(centre, keep_height=True), layer)
        elif args.origin == "first-camera":
            first = min(setup_ops.cameras_of(root), key=lambda o: o.get("vggt_frame", 0))
            setup_ops.apply_to_root(root, su.origin_transform(np.array(first.matrix_world.translation),
                                                              keep_height=True), layer)
        _say(f"floor set{', origin at the ' + args.origin.replace('-', ' ') if args.origin else ''}")
    if args.scale_camera_height is not None:
        factor = su.camera_height_scale(setup_ops.camera_centres_and_ups(root)[0], args.scale_camera_height)
    if args.scale_camera_height is not None or args.scale_distance is not None:
        setup_ops.apply_to_root(root, su.scale_transform(factor), layer)
        _say(f"scaled by {factor:.6g}")
    written = [export_camera(context, root, path) for path in args.export_camera]
    # each camera's lens package beside it (one folder when two formats share a name: shot.abc, shot.chan)
    written += list(dict.fromkeys(d for d in map(lens_package_dir, written) if os.path.isdir(d)))
    if args.export_points:
        written.append(export_points_glb(root, args.export_points))
    if args.export_colmap and recon is not None:
        from vggt_core import select_points

        points = select_points(recon, source=args.point_source, conf_percentile=args.conf_percentile,
                               max_points=args.max_points or None)
        with ProgressLog("vggt") as progress:
            written.append(export_colmap(root, args.export_colmap, recon, points,
                                                    lambda f: progress("Writing COLMAP images", f)))
    if args.export_lens and recon is not None:
        with ProgressLog("vggt") as progress:
            written += export_lens(root, args.export_lens, recon, args.undistort_plate,
                                              lambda f: progress("Writing the undistorted plate", f))
    if args.qc_render:
        written.append(qc_ops.render_qc(context, root, args.qc_render, recon))
    if args.redistort_scene:
        out = redistort_scene(context, root, args.redistort_scene)
        _say(f"added the scene '{out.name}' (render it for CG on the plate's lens)")
        written.append(out[REDISTORT_KEY])
    for path in written:
        _say(f"wrote {path}")
    return written


def _say(message: str) -> None:
    print(f"vggt: {message}", file=sys.stderr, flush=True)
