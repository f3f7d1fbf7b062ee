"""A Nuke QC script (``.nk`` text, no bpy): the solved camera over the undistorted plate.

Nodes: a Read of the plate (on the camera's frame numbers), a Read of the lens package's undistort ST-map
(``raw``: its values are coordinates, not colour), an STMap undistorting the plate onto the overscan canvas,
the animated Camera (the ``.chan`` data: ``chan.nuke_transforms``, rotation order ZXY, focal length with the
sensor as horizontal aperture), a ground-plane Card with a checkerboard (Y = 0, Nuke's floor) and a
ScanlineRender of it through the camera over the undistorted plate, then a Viewer; and one Axis per locator
(the solved points), to snap to.

Script semantics used (Nuke's TCL node stack): a node with ``inputs N`` takes the top N nodes of the stack,
the top one as input 0; ``set NAME [stack 0]`` names the top, ``push $NAME`` / ``push 0`` (nothing) push.
STMap: input 0 = stmap, input 1 = src; ScanlineRender: 0 = bg, 1 = obj/scn, 2 = cam. Nuke was not available
to open the script: it is checked structurally (tests/blender/test_exports.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .chan import Z_UP_TO_Y_UP, nuke_transforms


def _curve(frames: Sequence[int], values: np.ndarray) -> str:
    """A Nuke animation curve with a key at each of ``frames`` (``x<frame> value`` pairs)."""
    return "{curve " + " ".join(f"x{int(f)} {v:.9g}" for f, v in zip(frames, values)) + "}"


def _format(w: int, h: int, name: str = "") -> str:
    return f'"{w} {h} 0 0 {w} {h} 1 {name}"'


def _node_name(text: str) -> str:
    """A Nuke node name: letters, digits and underscores, not starting with a digit."""
    name = "".join(c if c.isalnum() and c.isascii() else "_" for c in text)
    return name if name and not name[0].isdigit() else f"_{name}"


def _quote(text: str) -> str:
    """A TCL brace-quoted word (paths with spaces); braces and backslashes are escaped."""
    return "{" + text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}") + "}"


def nk_text(frames: Sequence[int], matrices: np.ndarray, lens_mm: np.ndarray, sensor_width: float,
            plate: str, plate_first_file: int, plate_size: tuple[int, int], stmap: str,
            overscan_size: tuple[int, int], locators: Sequence[tuple[str, np.ndarray]] = ()) -> str:
    """The QC script for a camera with Blender world matrices ``matrices`` [F, 4, 4] and focal lengths
    ``lens_mm`` [F] (mm, horizontal aperture ``sensor_width``) at ``frames`` [F].

    plate: the plate's path as Nuke reads it (``shot.####.png`` for a sequence, or a movie file);
    plate_first_file: the file number (movies: frame number from 1) Nuke reads at ``frames[0]``;
    plate_size: (W, H) pixels; stmap: the undistort ST-map (``vggt_core.deliver.lens_package``), which makes the
    ``overscan_size`` (Wo, Ho) canvas the camera renders onto; a zoom's is a ``####`` sequence numbered like
    ``frames``. locators: (name, Blender world position [3])
    of each locator, written as an Axis2 node (Nuke's Y-up world) named after it.
    """
    frames = [int(f) for f in frames]
    t, rot = nuke_transforms(matrices)
    (w, h), (wo, ho) = plate_size, overscan_size
    first, last = frames[0], frames[-1]
    offset = plate_first_file - first  # file number = timeline frame + offset
    aperture = sensor_width * wo / w  # the canvas is Wo pixels wide at the plate's pixel size
    lines = [
        "#! Nuke QC script written by vggt-blender",
        "version 13.0",
        "Root {", " inputs 0", f" first_frame {first}", f" last_frame {last}", f" format {_format(wo, ho, 'vggt_overscan')}", "}",
        "Read {", " inputs 0", f" file {_quote(plate)}", f" format {_format(w, h)}",
        f" first {first + offset}", f" last {last + offset}", f" origfirst {first + offset}", f" origlast {last + offset}",
        " origset true", *([" frame_mode expression", f' frame "frame{offset:+d}"'] if offset else []),
        " name Plate", "}",
        "set N_plate [stack 0]",
        "Read {", " inputs 0", f" file {_quote(stmap)}", f" format {_format(wo, ho)}",
        *([f" first {first}", f" last {last}", f" origfirst {first}", f" origlast {last}", " origset true"]
          if "#" in stmap else []),
        " raw true", " name STMapUndistort", "}",
        "set N_stmap [stack 0]",
        "push $N_plate", "push $N_stmap",
        "STMap {", " inputs 2", " channels rgba", " uv rgb", " name Undistort", "}",
        "set N_undistorted [stack 0]",
        "Camera2 {", " inputs 0", " rot_order ZXY",
        " translate {" + " ".join(_curve(frames, t[:, k]) for k in range(3)) + "}",
        " rotate {" + " ".join(_curve(frames, rot[:, k]) for k in range(3)) + "}",
        f" focal {_curve(frames, np.asarray(lens_mm))}",  # same pixels, wider aperture: same focal length
        f" haperture {aperture:.9g}", f" vaperture {aperture * ho / wo:.9g}",
        " name VGGTCamera", "}",
        "set N_camera [stack 0]",
        "CheckerBoard2 {", " inputs 0", f" format {_format(512, 512)}", " name GroundChecker", "}",
        "Card2 {", " rotate {-90 0 0}", " uniform_scale 10", " name Ground", "}",
        "set N_ground [stack 0]",
        "push $N_camera", "push $N_ground", "push $N_undistorted",
        "ScanlineRender {", " inputs 3", " name QCRender", "}",
        "Viewer {", " name Viewer1", "}",
    ]
    for name, xyz in locators:
        x, y, z = np.asarray(xyz, np.float64) @ Z_UP_TO_Y_UP.T
        lines += ["Axis2 {", " inputs 0", f" translate {{{x:.9g} {y:.9g} {z:.9g}}}", f" name {_node_name(name)}", "}"]
    return "\n".join(lines) + "\n"
