"""Depth proxy meshes: one frame's depth map unprojected into a textured quad mesh."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import PreprocessRecord, Reconstruction


@dataclass(frozen=True, eq=False)
class ProxyMesh:
    """A quad mesh for one frame's depth map, VGGT world.

    positions [V, 3] float32 (only vertices used by a face); loop_vertex [4F] int32 (quads,
    corner order facing the camera); uvs [4F, 2] float32 in [0, 1], per loop, into the frame's
    *original* image (v up, Blender's UV convention); frame: reconstructed frame index.
    """

    positions: np.ndarray
    loop_vertex: np.ndarray
    uvs: np.ndarray
    frame: int

    @property
    def num_faces(self) -> int:
        return int(self.loop_vertex.size // 4)


def proxy_frame_indices(num_frames: int, every: int = 5, frames: Sequence[int] | None = None,
                        limit: int = 0) -> list[int]:
    """Which frames get a depth proxy: explicit ``frames`` (in range, sorted, unique), or every n-th frame
    (0: the first only), at most ``limit`` of them (0: no limit) spread evenly from the first to the last."""
    if frames is not None:
        return sorted({int(i) for i in frames if 0 <= int(i) < num_frames})
    if num_frames == 0:
        return []
    every_nth = list(range(0, num_frames, every)) if every > 0 else [0]
    if 0 < limit < len(every_nth):
        return [every_nth[int(k)] for k in np.rint(np.linspace(0, len(every_nth) - 1, limit))]
    return every_nth


def _grid(n: int, stride: int) -> np.ndarray:
    """0, stride, 2*stride, ... always ending at n - 1 so the mesh reaches the image border."""
    g = np.arange(0, n, stride)
    return g if g[-1] == n - 1 else np.append(g, n - 1)


def model_to_original_uv(um: np.ndarray, vm: np.ndarray, rec: "PreprocessRecord") -> tuple[np.ndarray, np.ndarray]:
    """Continuous model pixels -> UV in the original image ([0, 1], v up), clipped to the image."""
    from vggt_core.plate import pixels_to_original

    uv0 = pixels_to_original(np.stack([um, vm], axis=-1), rec)
    u, v = uv0[..., 0] / rec.orig_size[0], uv0[..., 1] / rec.orig_size[1]
    return np.clip(u, 0.0, 1.0), np.clip(1.0 - v, 0.0, 1.0)


def depth_proxy_mesh(
    recon: "Reconstruction",
    frame: int,
    stride: int = 1,
    max_depth_jump: float = 0.05,
    conf_percentile: float = 0.0,
    conf_min: float | None = None,
) -> ProxyMesh:
    """Unproject frame ``frame``'s depth on a pixel-centre grid (every ``stride`` model pixels).

    A vertex is valid when its pixel is not padding, its depth is finite and > 0 and its confidence
    is >= max(conf_min, the frame's ``conf_percentile`` percentile). A quad is kept when its 4
    corners are valid and ``dmax - dmin <= max_depth_jump * dmin`` (drops faces spanning depth
    discontinuities). Vertices are the Reconstruction's ``points_from_depth`` at those pixels
    (``X_world = R^T (d K^-1 [u + 0.5, v + 0.5, 1] - t)``, already computed by the pipeline).
    """
    depth = np.asarray(recon.depth[frame], dtype=np.float64)
    conf = np.asarray(recon.depth_conf[frame])
    valid_px = np.asarray(recon.valid[frame], dtype=bool) & np.isfinite(depth) & (depth > 0)
    thr = -np.inf if conf_min is None else float(conf_min)
    if conf_percentile > 0 and valid_px.any():
        thr = max(thr, float(np.percentile(conf[valid_px], conf_percentile)))
    valid_px &= conf >= thr

    h, w = depth.shape
    rows, cols = _grid(h, stride), _grid(w, stride)
    d = depth[np.ix_(rows, cols)]
    ok = valid_px[np.ix_(rows, cols)]
    gh, gw = d.shape

    # Corners (r, c), (r+1, c), (r+1, c+1), (r, c+1): down, right, up in the image = counter-clockwise
    # seen from the camera (y down), so Blender's face normals point at the camera.
    corners = [(slice(0, -1), slice(0, -1)), (slice(1, None), slice(0, -1)),
               (slice(1, None), slice(1, None)), (slice(0, -1), slice(1, None))]
    cd = np.stack([d[s] for s in corners])  # [4, gh-1, gw-1]
    keep = np.logical_and.reduce([ok[s] for s in corners])
    with np.errstate(invalid="ignore"):
        keep &= (cd.max(0) - cd.min(0)) <= max_depth_jump * cd.min(0)

    vid = np.arange(gh * gw, dtype=np.int64).reshape(gh, gw)
    quads = np.stack([vid[s][keep] for s in corners], axis=1)  # [F, 4] grid vertex ids

    used = np.zeros(gh * gw, dtype=bool)
    used[quads.ravel()] = True
    remap = np.cumsum(used) - 1
    sel = np.flatnonzero(used)
    r_idx, c_idx = sel // gw, sel % gw

    um = cols[c_idx] + 0.5  # pixel centres, continuous model pixels
    vm = rows[r_idx] + 0.5
    xw = recon.points_from_depth[frame][rows[r_idx], cols[c_idx]]

    uu, vv = model_to_original_uv(um, vm, recon.preprocess[frame])
    vert_uv = np.stack([uu, vv], axis=1).astype(np.float32)
    loop_vertex = remap[quads.ravel()].astype(np.int32)
    return ProxyMesh(
        positions=np.ascontiguousarray(xw, dtype=np.float32),
        loop_vertex=loop_vertex,
        uvs=np.ascontiguousarray(vert_uv[loop_vertex]),
        frame=int(frame),
    )
