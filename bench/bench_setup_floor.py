"""Scene setup on the bundled example, against its ground truth: Set Floor (auto), Origin at the floor, Scale
by camera height, then a Cycles preview.

The reconstruction is the example's ground truth expressed as VGGT would give it (camera 0's frame, camera 0
to scene origin = 1 unit): a stand-in for the network that lives here, never in the product. Everything after
it is the product's own code (import, setup operators, render). Reports the floor's tilt against the ground
truth's Z axis and the camera heights against the true ones.

    .venv/bin/python bench/bench_setup_floor.py     # -> bench/results/setup_floor_orbit.{json,md,png}
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import bpy  # noqa: E402

from bench_common import RESULTS, command_line, hardware, md_table, write_json  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.command_line import cli  # noqa: E402
from vggt_blender.operators import setup_ops  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_core import FrameInfo, PreprocessRecord, Reconstruction  # noqa: E402

ORBIT = REPO / "examples" / "orbit"


def ground_truth_recon() -> tuple[Reconstruction, np.ndarray, np.ndarray]:
    """The example's cameras and depth in VGGT's convention; also the true world-from-camera R, t."""
    meta = json.loads((ORBIT / "cameras.json").read_text())["frames"]
    depth = np.load(ORBIT / "depth.npz")["depth"].astype(np.float64)
    K = np.array([f["K"] for f in meta])
    R = np.array([f["R"] for f in meta])
    t = np.array([f["t"] for f in meta])
    S, H, W = depth.shape
    s = 1.0 / np.linalg.norm(-R[0].T @ t[0])
    Rv = R @ R[0].T
    tv = s * (t - np.einsum("sij,j->si", Rv, t[0]))
    ext = np.concatenate([Rv, tv[:, :, None]], 2).astype(np.float32)
    vv, uu = np.mgrid[0:H, 0:W].astype(np.float64)
    valid = np.isfinite(depth)
    pts = np.zeros((S, H, W, 3), np.float32)
    for i in range(S):
        ray = np.stack([uu + 0.5, vv + 0.5, np.ones_like(uu)], -1) @ np.linalg.inv(K[i]).T
        pts[i] = (ray * np.where(valid[i], depth[i], 0)[..., None] * s - tv[i]) @ Rv[i]
    imgs = np.stack([np.asarray(Image.open(ORBIT / f["file"]).convert("RGB")) for f in meta])
    rec = PreprocessRecord(mode="crop", orig_size=(W, H), resized_size=(W, H), offset=(0, 0), model_size=(W, H))
    frames = [FrameInfo(source=str(ORBIT / f["file"]), index=i, timestamp=None, width=W, height=H)
              for i, f in enumerate(meta)]
    conf = np.where(valid, 5.0, 0).astype(np.float32)
    recon = Reconstruction(frames=frames, preprocess=[rec] * S, extrinsics=ext, intrinsics=K.astype(np.float32),
                           intrinsics_model=K.astype(np.float32), depth=np.where(valid, depth * s, 0).astype(np.float32),
                           depth_conf=conf, world_points=pts.copy(), world_points_conf=conf.copy(),
                           points_from_depth=pts, colors=imgs, valid=valid, model_id="ground truth (bench stand-in)")
    return recon, R, t


def main() -> int:
    recon, R, t = ground_truth_recon()
    true_heights = [float((-Ri.T @ ti)[2]) for Ri, ti in zip(R, t)]
    bpy.ops.wm.read_homefile(use_empty=True)
    for c in setup_ops.classes:
        bpy.utils.register_class(c)
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0,
                                                              max_points=300_000), bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    bpy.context.view_layer.objects.active = root
    bpy.context.view_layer.update()
    assert bpy.ops.vggt.set_floor(source="AUTO") == {"FINISHED"}
    assert bpy.ops.vggt.set_origin(target="FLOOR") == {"FINISHED"}
    assert bpy.ops.vggt.set_scale(mode="CAMERA_HEIGHT", distance=float(np.mean(true_heights))) == {"FINISHED"}
    m = np.array(root.matrix_world)
    z = m[:3, :3] @ (R[0] @ [0, 0, 1.0])  # the true world's +Z (the floor's normal) after the setup
    tilt = float(np.degrees(np.arccos(z[2] / np.linalg.norm(z))))
    heights = [float(c.matrix_world.translation.z) for c in setup_ops.cameras_of(root)]
    bpy.ops.vggt.add_shadow_catcher()
    png = RESULTS / "setup_floor_orbit.png"
    cli.render_preview(bpy.context.scene, str(png), samples=16, width=480)
    err_mm = 1000 * float(np.max(np.abs(np.array(heights) - np.array(true_heights))))
    write_json(RESULTS / "setup_floor_orbit.json", {
        "command": command_line(), "hardware": hardware("cpu"), "blender": bpy.app.version_string,
        "floor_tilt_deg": tilt, "camera_heights_m": heights, "true_heights_m": true_heights,
        "max_height_error_mm": err_mm, "render": png.name})
    table = md_table(["floor tilt vs truth (deg)", "max camera height error (mm)", "cameras"],
                     [[f"{tilt:.4f}", f"{err_mm:.2f}", len(heights)]])
    (RESULTS / "setup_floor_orbit.md").write_text(
        "# Scene setup on the bundled example (ground-truth stand-in for the network)\n\n"
        f"`{command_line()}` (Blender {bpy.app.version_string}): Set Floor (auto), Origin at the floor, Scale by "
        "the mean true camera height, shadow catcher, Cycles preview `setup_floor_orbit.png`.\n\n" + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
