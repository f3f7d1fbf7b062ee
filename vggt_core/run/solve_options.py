"""The camera-solve options of both command lines (``vggt-reconstruct`` and ``blender -b -c vggt``); their
defaults are ``ReconstructSettings``' (``pipeline.DEFAULTS``): a run solves unless told ``--refine none``."""
from __future__ import annotations

from typing import Any

from ..solve.adjust import DISTORTIONS
from ..solve.lens import LENSES
from ..solve.motion import MOTIONS
from ..solve.plate_tracks import TRACK_REFINES
from .pipeline import DEFAULTS


def add_arguments(parser: Any, sensor_width: bool = True) -> None:
    """Add ``--lens --focal-mm --focal-px --refine --distortion --track-frames --track-refine --motion`` (and
    ``--sensor-width`` unless the command already has one with the same meaning: the camera's sensor width in mm)."""
    g = parser.add_argument_group("camera solve")
    g.add_argument("--lens", choices=LENSES, default=DEFAULTS.lens,
                   help="per-frame (VGGT's own focal per frame), shared (one lens for the shot), known (give "
                   "--focal-px, or --focal-mm with --sensor-width), zoom (a smoothed focal per frame, square "
                   "pixels, centred principal point); default auto: shared when every frame has the same size "
                   "(videos, strips, clips), zoom when VGGT's focal drifts over the shot, per-frame otherwise")
    g.add_argument("--focal-mm", type=float, default=None, help="known lens: focal length in mm")
    if sensor_width:
        g.add_argument("--sensor-width", type=float, default=None, help="known lens: sensor width in mm")
    g.add_argument("--focal-px", type=float, default=None, help="known lens: focal length in plate pixels")
    g.add_argument("--refine", choices=("none", "ba"), default=DEFAULTS.refine,
                   help="ba (default): track points through the shot and refine cameras, points and lens by bundle "
                   "adjustment (pycolmap), with a verdict; the solve report is printed and written to summary.json. "
                   "none: the network's cameras as predicted, a quick preview (verdict 'preview', never 'good')")
    g.add_argument("--distortion", choices=DISTORTIONS, default=DEFAULTS.distortion,
                   help=f"with --refine ba: also solve radial distortion k1 or k1,k2 (default {DEFAULTS.distortion})")
    g.add_argument("--track-frames", type=int, default=DEFAULTS.track_frames, metavar="N",
                   help=f"with --refine ba: query frames for the tracks, spread evenly from the first frame to the "
                   f"last (default {DEFAULTS.track_frames})")
    g.add_argument("--track-refine", choices=TRACK_REFINES, default=DEFAULTS.track_refine,
                   help="with --refine ba: plate (default) refines every track on the plate's own full-resolution "
                   "pixels before the solve (sub-pixel, checked both ways; tracks on blank areas, in masks or that "
                   "fail the check are dropped; the plate is read again); none solves on the network's tracks "
                   "(model resolution)")
    g.add_argument("--motion", choices=MOTIONS, default=DEFAULTS.motion,
                   help="with --refine ba: free (the camera moves), tripod (one fixed camera centre: a nodal pan or "
                   "tilt; rotations and lens are solved); default auto: tripod when the shot has too little "
                   "parallax to triangulate, free otherwise (the solve report says which and why)")


def settings_fields(args: Any) -> dict[str, Any]:
    """``ReconstructSettings`` keyword arguments from the options of ``add_arguments``."""
    return {"lens": args.lens, "focal_mm": args.focal_mm, "sensor_width_mm": args.sensor_width,
            "focal_px": args.focal_px, "refine": args.refine, "distortion": args.distortion,
            "track_frames": args.track_frames, "track_refine": args.track_refine, "motion": args.motion}
