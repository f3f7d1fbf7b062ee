"""Long shots: chunked reconstruction against ground truth, seam jitter, and peak memory at scale.

Accuracy (seconds, no model): a synthetic shot (a camera walking through a box room) goes through the real
pipeline (``reconstruct_frames``: frames decoded per chunk, chunk plan, Sim(3) stitching, camera solve) with
``GroundTruthEngine`` standing in for VGGT. For the frames of each chunk the stand-in returns the true depth
and cameras expressed in that chunk's own normalised frame (first camera = identity, mean depth 1 times a
random factor: an arbitrary scale per chunk) with noise (``Noise``; ``VGGT_LIKE``: a few degrees of
rotation, several % of focal per frame and per chunk, depth noise), and tracks for query points. The
stitched cameras are compared with the truth after one global Sim(3): ATE (RMS camera-centre error) as a
percentage of the path length, the scale drift, and the seam jitter (``evaluate``).

    python bench/bench_long.py                    # kind stand-in, chained vs anchored -> long_accuracy.{json,md}
    python bench/bench_long.py --vggt-like --seeds 3 --label after [--frames 400]
                                                  # VGGT-like errors, 160 frames (or --frames), BA off/on
                                                  #   -> long_vggt_like.*
    python bench/bench_long.py --scale 200,400,1000 --label after
                                                  # 1080p plates, chunks of 32, BA: RSS + seconds per stage
                                                  #   -> long_scale.* (each run in a fresh process)
    python bench/bench_long.py --memory CKPT      # + peak RSS with the real model: 24 frames at 294x518 in
                                                  #   chunks of 8 vs one 8-frame run (minutes on a CPU)

The stand-in is for benchmarks and tests only; the product never uses it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("", "bench", "tests")]
from bench_common import RESULTS, command_line, peak_rss_gb  # noqa: E402
from solve_shots import rotation  # noqa: E402
from vggt_core.stitch import umeyama  # noqa: E402


@dataclass(frozen=True)
class Noise:
    """What the stand-in gets wrong, per chunk call (all relative to the chunk's scale).

    rotation_deg / translation: per-frame camera error (translation as a fraction of the mean depth);
    depth_bias: per-frame depth scale error (std); depth_pixel: per-pixel multiplicative depth noise (std);
    outliers: fraction of pixels with a wrong depth (x 0.3..2), half of them still confident;
    far_gain: error (and confidence) multiplier per window length an anchor frame lies outside the chunk's
    consecutive frames, since a network sees little of a far-away frame's content;
    focal_bias: relative focal error of every frame of every call; focal_chunk / focal_frame: std of a relative
    focal error drawn per call / per frame (VGGT predicts a focal per frame, and every chunk anew);
    track_px: Gaussian noise (model pixels) of the tracks, except on a query's own frame.
    """

    rotation_deg: float = 0.15
    translation: float = 0.003
    depth_bias: float = 0.005
    depth_pixel: float = 0.01
    outliers: float = 0.02
    far_gain: float = 4.0
    focal_bias: float = 0.0
    focal_chunk: float = 0.0
    focal_frame: float = 0.0
    track_px: float = 0.2


# Errors of the size VGGT makes on real plates (issue 21, item 10): a few degrees, several % of focal per frame.
VGGT_LIKE = Noise(rotation_deg=2.0, translation=0.01, depth_bias=0.02, depth_pixel=0.03, outliers=0.02,
                  focal_chunk=0.03, focal_frame=0.04, track_px=0.5)
ROOM = (12.0, 2.5, 20.0)  # half-sizes of synthetic_shot's box room


@dataclass
class Shot:
    """Ground truth: extrinsics [S,3,4] camera-from-world (OpenCV), model intrinsics [3,3], image size (H, W)
    in model pixels, and the box room (half-sizes) whose walls give every depth (ray-cast on demand, so a
    1000-frame shot at 294x518 costs nothing to hold)."""

    extrinsics: np.ndarray
    intrinsics: np.ndarray
    size: tuple[int, int]
    half: tuple[float, float, float] = ROOM

    @property
    def centres(self) -> np.ndarray:
        R, t = self.extrinsics[:, :, :3], self.extrinsics[:, :, 3]
        return -np.einsum("sji,sj->si", R, t)

    def hit(self, i: int, rays_cam: np.ndarray) -> np.ndarray:
        """z-depth [...] where camera i's rays (camera frame, unit z, [..., 3]) meet the room's walls."""
        R = self.extrinsics[i][:, :3]
        d = rays_cam @ R  # world directions (rows of R^T applied), per unit z
        bound = np.where(d > 0, np.array(self.half), -np.array(self.half))
        with np.errstate(divide="ignore"):
            t = np.where(np.abs(d) > 1e-12, (bound - self.centres[i]) / d, np.inf)
        return t.min(-1)

    def depth(self, i: int) -> np.ndarray:
        """[H, W] float64 z-depth of frame i at pixel centres."""
        H, W = self.size
        K = self.intrinsics
        u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        return self.hit(i, np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1))


def _look(forward: np.ndarray, up: np.ndarray = np.array([0.0, -1.0, 0.0])) -> np.ndarray:
    """Camera-from-world rotation of a camera looking along ``forward`` (OpenCV: y down)."""
    z = forward / np.linalg.norm(forward)
    x = np.cross(-up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def synthetic_shot(n: int = 240, H: int = 56, W: int = 112, half: tuple = ROOM) -> Shot:
    """A camera walking a weaving path along z through a box room (half-sizes ``half``), looking ahead,
    with a 60-degree horizontal field on an H x W image."""
    s = np.linspace(0.0, 1.0, n)
    centres = np.stack([3.0 * np.sin(2 * np.pi * s * 1.5), 0.4 * np.sin(2 * np.pi * s * 3), -15.0 + 30.0 * s], 1)
    f = 0.5 * W / np.tan(np.radians(30))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    ext = []
    for i in range(n):
        ahead = centres[min(i + 5, n - 1)] - centres[max(i - 5, 0)]
        yaw = 0.35 * np.sin(2 * np.pi * s[i] * 2)
        R = _look(np.array([ahead[0] + np.sin(yaw) * 8, ahead[1], ahead[2]]))
        ext.append(np.concatenate([R, (-R @ centres[i])[:, None]], 1))
    return Shot(np.array(ext), K, (H, W), half)


class GroundTruthEngine:
    """Engine stand-in: for the frames it is fed, the truth in the chunk's own frame, with noise.

    frames are recognised by their preprocessed image (``register``). model_id names a file when the run
    should be cacheable (resume tests), else "<ground truth>" (never cached). With query points it also
    returns tracks: the true tracks of the room's walls (no occlusion inside a convex room: a wall point is
    seen wherever it projects in front of the camera and inside the frame) with ``Noise.track_px`` noise. It
    stands in for our side of ``Engine.predict``'s documented contract only (keys, shapes, frames).
    """

    numerics = {"device": "cpu", "dtype": "float32"}

    def __init__(self, shot: Shot, noise: Noise = Noise(), seed: int = 0, model_id: str = "<ground truth>") -> None:
        self.shot, self.noise, self.seed, self.model_id = shot, noise, seed, model_id
        self.lookup: dict[str, int] = {}
        self.calls: list[list[int]] = []

    def register(self, position: int, image: np.ndarray) -> None:
        """image: [3,H,W] the preprocessed frame at ``position`` of the shot."""
        self.lookup[_digest(image)] = position

    def predict(self, images, query_points=None, progress=None, cancel=None, query_frames=None) -> dict[str, np.ndarray]:
        from vggt_core import Cancelled

        ids = [self.lookup[_digest(np.asarray(img))] for img in images]
        self.calls.append(ids)
        for k in range(4):  # a network's aggregator reports progress and polls cancel as it goes
            if cancel is not None and cancel():
                raise Cancelled("reconstruction cancelled")
            if progress is not None:
                progress("aggregator", k / 3)
        pred = self._truth(ids)
        if query_points is not None:
            pred.update(self._tracks(ids, np.asarray(query_points, np.float64), query_frames))
        return pred

    def _truth(self, ids: list[int]) -> dict[str, np.ndarray]:
        nz = self.noise
        rng = np.random.default_rng([self.seed, *ids])
        shot, S = self.shot, len(ids)
        # The chunk's consecutive run (its window) and how far outside it each frame lies, in window lengths.
        run = [ids[0]]
        for i in ids[1:]:
            if i != run[-1] + 1:
                break
            run.append(i)
        far = np.array([max(run[0] - i, i - run[-1], 0) / len(run) for i in ids])
        gain = 1.0 + nz.far_gain * far
        ref = shot.extrinsics[ids[0]]
        R0, t0 = ref[:, :3], ref[:, 3]
        truth = [shot.depth(i) for i in ids]
        scale = 1.0 / float(np.mean([d.mean() for d in truth])) * rng.uniform(0.5, 2.0)
        focal = (1 + nz.focal_bias) * (1 + nz.focal_chunk * rng.normal()) * (1 + nz.focal_frame * rng.normal(size=S))
        ext, depth, conf = [], [], []
        for j, i in enumerate(ids):
            R, t = shot.extrinsics[i][:, :3], shot.extrinsics[i][:, 3]
            Rc, tc = R @ R0.T, (t - R @ R0.T @ t0) * scale  # camera-from-chunk (chunk = first camera)
            if j > 0:
                axis = rng.normal(size=3)
                angle = np.radians(nz.rotation_deg) * gain[j] * rng.normal()
                Rc = rotation(axis / np.linalg.norm(axis) * angle) @ Rc
                tc = tc + rng.normal(size=3) * nz.translation * gain[j]  # chunk mean depth is ~1
            ext.append(np.concatenate([Rc, tc[:, None]], 1))
            d = truth[j] * scale * (1 + nz.depth_bias * gain[j] * rng.normal())
            d = d * (1 + nz.depth_pixel * gain[j] * rng.normal(size=d.shape))
            c = 1.0 + np.exp(rng.normal(2.0, 0.5, size=d.shape)) / gain[j]
            bad = rng.random(d.shape) < nz.outliers
            d[bad] *= rng.uniform(0.3, 2.0, size=int(bad.sum()))
            c[bad & (rng.random(d.shape) < 0.5)] = 1.2
            depth.append(d.astype(np.float32))
            conf.append(c.astype(np.float32))
        ext, depth, conf = np.array(ext, np.float32), np.array(depth), np.array(conf)
        K = np.repeat(shot.intrinsics[None], S, 0)
        K[:, :2, :2] *= focal[:, None, None]
        K = K.astype(np.float32)
        from vggt_core import unproject_depth_map_to_point_map

        points = unproject_depth_map_to_point_map(depth, ext, K, pixel_offset=0.5).astype(np.float32)
        return {"extrinsic": ext, "intrinsic": K, "depth": depth, "depth_conf": conf,
                "world_points": points, "world_points_conf": conf.copy()}

    def _tracks(self, ids: list[int], query: np.ndarray, query_frames: np.ndarray | None) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 7, *ids])
        shot, (H, W) = self.shot, self.shot.size
        K = shot.intrinsics
        qf = np.zeros(len(query), int) if query_frames is None else np.asarray(query_frames)
        ext = shot.extrinsics[ids]
        rays = np.c_[(query - K[:2, 2]) / np.diag(K)[:2], np.ones(len(qf))]
        depth = np.array([shot.hit(ids[f], r) for f, r in zip(qf, rays)])
        cam = rays * depth[:, None]
        R, t = ext[qf, :, :3], ext[qf, :, 3]
        points = np.einsum("nji,nj->ni", R, cam - t)  # world
        cam = np.einsum("sij,nj->sni", ext[:, :, :3], points) + ext[:, None, :, 3]
        uv = cam[..., :2] / cam[..., 2:] * np.diag(K)[:2] + K[:2, 2]
        vis = (cam[..., 2] > 0.1) & np.all((uv >= 0) & (uv <= [W, H]), axis=2)
        uv += rng.normal(0, self.noise.track_px, uv.shape)
        uv[qf, np.arange(len(qf))] = query
        return {"track": uv.astype(np.float32), "vis": vis.astype(np.float32), "conf": np.ones(vis.shape, np.float32)}


def _digest(img: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(img, np.float32).tobytes()).hexdigest()


def write_shot_frames(folder: Path, n: int, size: tuple[int, int] = (224, 112), pattern: str = "noise") -> list[Path]:
    """n distinct PNG frames of ``size`` (W, H): the stand-in only needs to tell them apart.

    pattern "noise": random pixels seeded by the index; "code": flat grey with the index as 12 black/white
    blocks across the middle rows (small files, so a 1000-frame 1080p shot is quick to write and decode).
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    W, H = size
    for i in range(n):
        if pattern == "noise":
            img = np.random.default_rng(i).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        else:
            img = np.full((H, W, 3), 128, np.uint8)
            bits = (i >> np.arange(12)) & 1
            img[H // 3: 2 * H // 3] = np.repeat(bits * 255, -(-W // 12))[:W, None].astype(np.uint8)
        path = folder / f"frame_{i:04d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def standin_for(folder: Path, shot: Shot | None, settings, noise: Noise = Noise(), seed: int = 0,
                model_id: str = "<ground truth>", frames: int | None = None) -> tuple[list, GroundTruthEngine]:
    """(frame infos of ``folder``, the first ``frames`` only when given; a stand-in that knows them) for
    ``settings``' preprocessing.

    shot None: a ``synthetic_shot`` of that many frames at the model size of ``settings``.
    Frames are decoded one at a time (a long shot's images never pile up).
    """
    from vggt_core import iter_frames, list_frames
    from vggt_core.plate import plan_batch, render

    infos = list_frames(folder, settings.selection)[:frames]
    records = plan_batch([(i.width, i.height) for i in infos], settings.mode, settings.resolution)
    if shot is None:
        shot = synthetic_shot(len(infos), records[0].model_size[1], records[0].model_size[0])
    engine = GroundTruthEngine(shot, noise, seed, model_id)
    for pos, frame in iter_frames(infos):
        engine.register(pos, render(frame, records[pos]))
    return infos, engine


def evaluate(extrinsics: np.ndarray, depth: np.ndarray, shot: Shot,
             chunks: list[list[int]] | None = None) -> dict[str, float]:
    """ATE (% of path length) after one global Sim(3), end-to-end scale drift (%), and with ``chunks`` (the
    plan) the seam jitter: the camera-centre error's frame-to-frame acceleration ``|e[i+1] - 2 e[i] + e[i-1]|``
    (% of the mean true step) and its rotation error's frame-to-frame change (degrees), each the mean over
    the frames of chunk overlaps and their neighbours (seams) and over the other frames (inside chunks)."""
    est = Shot(np.asarray(extrinsics, np.float64), shot.intrinsics, shot.size).centres
    true = shot.centres
    s, R, t = umeyama(est, true, np.ones(len(est)))
    e = est @ (s * R).T + t - true
    err = np.linalg.norm(e, axis=1)
    steps = np.linalg.norm(np.diff(true, axis=0), axis=1)
    path = float(steps.sum())
    tenth = max(1, len(true) // 10)
    ratio = np.array([np.median(depth[i] / shot.depth(i)) for i in range(len(true))])
    drift = float(np.median(ratio[-tenth:]) / np.median(ratio[:tenth]) - 1.0)
    out = {"ate_percent": 100 * float(np.sqrt(np.mean(err ** 2))) / path,
           "ate_max_percent": 100 * float(err.max()) / path, "scale_drift_percent": 100 * abs(drift),
           "path_length": path}
    if chunks and len(chunks) > 1:
        accel = np.zeros(len(true))
        accel[1:-1] = 100 * np.linalg.norm(e[2:] - 2 * e[1:-1] + e[:-2], axis=1) / steps.mean()
        # Rotation error in the truth's world (est rotations carried by the global similarity).
        r_err = np.asarray(extrinsics, np.float64)[:, :, :3] @ R.T @ np.transpose(shot.extrinsics[:, :, :3], (0, 2, 1))
        step = np.zeros(len(true))
        rel = np.einsum("sij,skj->sik", r_err[1:], r_err[:-1])
        step[1:] = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        seam = np.zeros(len(true), bool)
        for a, b in zip(chunks, chunks[1:]):
            shared = sorted(set(a) & set(b) & set(range(b[0], b[0] + len(b))))
            seam[max(shared[0] - 1, 0):shared[-1] + 2] = True
        inner = ~seam
        inner[[0, -1]] = False
        out.update(seam_accel_percent=float(accel[seam & (accel > 0)].mean()),
                   inside_accel_percent=float(accel[inner].mean()),
                   seam_rot_step_deg=float(step[seam].mean()), inside_rot_step_deg=float(step[inner].mean()))
    return out


def accuracy(n: int = 240, chunk_size: int = 32, overlap: int = 12, seeds: int = 5) -> list[dict]:
    """The kind stand-in (``Noise()``): chained vs anchored, BA off."""
    from vggt_core.stitch import plan_chunks
    from vggt_core import ReconstructSettings, reconstruct_frames

    shot = synthetic_shot(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_shot_frames(Path(tmp), n)
        # Chained chunks hold no frame from outside their window, so far_gain only matters for anchored.
        for strategy, far_gain in (("chained", Noise().far_gain), ("anchored", Noise().far_gain), ("anchored", 0.0)):
            settings = ReconstructSettings(resolution=112, chunk_size=chunk_size, overlap=overlap, strategy=strategy)
            plan = plan_chunks(n, chunk_size, overlap, strategy)
            for seed in range(seeds):
                infos, engine = standin_for(Path(tmp), shot, settings, Noise(far_gain=far_gain), seed=seed)
                recon = reconstruct_frames(infos, settings, engine)
                row = {"strategy": strategy, "far_gain": far_gain, "seed": seed, "frames": n,
                       "chunk_size": chunk_size, "overlap": overlap,
                       "chunks": len(recon.chunks), **evaluate(recon.extrinsics, recon.depth, shot, plan),
                       "worst_fit_residual_median": max(c["residual_median"] for c in recon.chunks)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    return rows


def vggt_like(n: int = 160, chunk_size: int = 32, overlap: int = 10, seeds: int = 3) -> list[dict]:
    """The VGGT-like stand-in (``VGGT_LIKE``) on an n-frame walk, chained, with and without BA (shared lens)."""
    from vggt_core.stitch import plan_chunks
    from vggt_core import ReconstructSettings, reconstruct_frames

    shot = synthetic_shot(n)
    plan = plan_chunks(n, chunk_size, overlap, "chained")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_shot_frames(Path(tmp), n)
        for refine in ("none", "ba"):
            settings = ReconstructSettings(resolution=112, chunk_size=chunk_size, overlap=overlap, strategy="chained",
                                           lens="shared", refine=refine,
                                           track_refine="none")  # the stand-in's tracks are not on its frames
            for seed in range(seeds):
                infos, engine = standin_for(Path(tmp), shot, settings, VGGT_LIKE, seed=seed)
                recon = reconstruct_frames(infos, settings, engine)
                f_err = float(np.median(recon.intrinsics_model[:, 0, 0]) / shot.intrinsics[0, 0] - 1)
                row = {"run": [n, refine == "ba", seed], "refine": refine, "seed": seed, "frames": n, "chunk_size": chunk_size, "overlap": overlap,
                       **evaluate(recon.extrinsics, recon.depth, shot, plan), "focal_error_percent": 100 * abs(f_err),
                       "solve_seconds": recon.timings.get("solve", 0.0)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    return rows


def _scale_child(folder: str, frames: int, chunk_size: int, overlap: int) -> None:
    """One long-shot run in this (fresh) process: stand-in engine, shared lens, BA; prints a JSON line with
    seconds and peak RSS per stage (the peak is reset between stages through /proc/self/clear_refs)."""
    import time

    import vggt_core.solve as solve_mod
    from bench_common import rss_gb
    from vggt_core import ReconstructSettings, reconstruct_frames

    settings = ReconstructSettings(chunk_size=chunk_size, overlap=overlap, strategy="chained", lens="shared",
                                   refine="ba", track_refine="none")  # the stand-in's tracks are not on its frames
    infos, engine = standin_for(Path(folder), None, settings, VGGT_LIKE, frames=frames)
    stages: dict[str, dict[str, float]] = {}
    clock = [time.perf_counter()]

    def reset_peak() -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
        except OSError:
            pass

    def close(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = {"seconds": now - clock[0], "peak_rss_gb": peak_rss_gb(), "rss_after_gb": rss_gb()}
        clock[0] = now
        reset_peak()

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            close(f"before {name}")
            result = fn(*a, **kw)
            close(name)
            return result
        return wrapper

    baseline = rss_gb()
    reset_peak()
    clock[0] = time.perf_counter()
    # Bench instrumentation only: the solve module looks these up at call time.
    solve_mod.triangulate = timed("triangulate", solve_mod.triangulate)
    solve_mod.bundle_adjust = timed("bundle adjustment", solve_mod.bundle_adjust)
    recon = reconstruct_frames(infos, settings, engine)
    close("solve rest")
    stages = {"chunks + stitch + observations": stages.pop("before triangulate"), **stages}
    stages["triangulate"]["seconds"] += stages.pop("before bundle adjustment")["seconds"]  # the gap: a few ms
    timings = {k: round(v, 2) for k, v in recon.timings.items()}
    print(json.dumps({"frames": frames, "chunk_size": chunk_size, "overlap": overlap, "model_size": recon.model_size,
                      "tracks": int(recon.tracks.shape[1]), "sparse_points": 0 if recon.sparse_points is None else len(recon.sparse_points),
                      "solve_skipped": recon.solve.get("skipped"), "baseline_rss_gb": baseline,
                      "peak_rss_gb": max(s["peak_rss_gb"] for s in stages.values()), "stages": stages,
                      "recon_timings": timings, "reconstruction_gb": _recon_bytes(recon) / 1e9,
                      **evaluate(recon.extrinsics, recon.depth, engine.shot)}))


def _recon_bytes(recon) -> int:
    return sum(v.nbytes for v in vars(recon).values() if isinstance(v, np.ndarray))


def scale(series: list[int], chunk_size: int = 32, overlap: int = 8, size: tuple[int, int] = (1920, 1080)) -> list[dict]:
    """Peak RSS and seconds per stage of the longest-shot runs, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_shot_frames(Path(tmp), max(series), size=size, pattern="code")
        for frames in series:
            out = subprocess.run([sys.executable, __file__, "--scale-child", tmp, str(frames), str(chunk_size),
                                  str(overlap)], check=True, stdout=subprocess.PIPE, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _memory_child(weights: str, frames: int, chunk_size: int, folder: str) -> None:
    """One measured run in this (fresh) process; prints a JSON line with its peak RSS."""
    import time

    from vggt_core import Engine
    from vggt_core import list_frames
    from vggt_core import ReconstructSettings, reconstruct_frames

    engine = Engine(weights, device="cpu", dtype="fp32")
    infos = list_frames(folder)[:frames]
    t0 = time.perf_counter()
    recon = reconstruct_frames(infos, ReconstructSettings(chunk_size=chunk_size, overlap=2, strategy="chained"), engine)
    print(json.dumps({"frames": frames, "chunk_size": chunk_size, "cameras": recon.num_frames,
                      "seconds": time.perf_counter() - t0, "peak_rss_gb": peak_rss_gb()}))


def memory(weights: str) -> list[dict]:
    """Peak RSS of one 8-frame run and of 24 frames in chunks of 8, at 294x518, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_shot_frames(Path(tmp), 24, size=(518, 294))
        for frames, chunk in ((8, 0), (24, 8)):
            out = subprocess.run([sys.executable, __file__, "--child", weights, str(frames), str(chunk), tmp],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows
def _markdown(rows: list[dict], mem: list[dict] | None) -> str:
    lines = ["# Long shots: chunked reconstruction vs ground truth", "",
             f"Synthetic shot, {rows[0]['frames']} frames, chunks of {rows[0]['chunk_size']} with overlap "
             f"{rows[0]['overlap']}; stand-in noise: {asdict(Noise())}.", "",
             "far_gain 0: anchor frames as well estimated as the chunk's own (a shot that revisits its views).", "",
             "| strategy | far_gain | seed | chunks | ATE % of path | max error % | scale drift % | worst fit residual |"
             " seam accel % | inside accel % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['far_gain']:g} | {r['seed']} | {r['chunks']} | {r['ate_percent']:.3f} | "
                     f"{r['ate_max_percent']:.3f} | {r['scale_drift_percent']:.3f} | {r['worst_fit_residual_median']:.4f} | "
                     f"{r['seam_accel_percent']:.2f} | {r['inside_accel_percent']:.2f} |")
    if mem:
        lines += ["", "## Peak memory (CPU, fp32, synthetic VGGT-1B checkpoint, 294x518)", "",
                  "| frames | chunk size | cameras | seconds | peak RSS GB |", "|---|---|---|---|---|"]
        lines += [f"| {m['frames']} | {m['chunk_size'] or 'one run'} | {m['cameras']} | {m['seconds']:.0f} | "
                  f"{m['peak_rss_gb']:.2f} |" for m in mem]
    return "\n".join(lines) + "\n"


SEAM_NOTE = ("Seam jitter: the camera-centre error's frame-to-frame acceleration |e[i+1] - 2e[i] + e[i-1]| in % of "
             "the mean true step, and the rotation error's frame-to-frame change, averaged over the chunk overlaps "
             "(and the frame either side) against the frames inside chunks.")


def _commands(data: dict) -> str:
    return "Commands: " + "; ".join(f"`{c}`" for cs in data["commands"].values() for c in cs)


def _vggt_like_markdown(data: dict) -> str:
    hw = data["hardware"]
    lines = ["# Long shots with VGGT-like errors: chained stitching alone (refine none) and one adjustment (ba)", "",
             f"Stand-in noise: {data['noise']}.", "",
             f"Hardware: {hw['cpu']}, {hw['cpu_cores']} cores, {hw['ram_gb']:.0f} GB RAM, shared with other jobs; "
             f"{hw['platform']}, Python {hw['python']}.", "", SEAM_NOTE, "", _commands(data), "",
             "| code | frames | refine | seed | ATE % of path | max % | scale drift % | focal error % | seam accel % | "
             "inside accel % | seam rot step deg | inside rot step deg | solve s |", "|" + "---|" * 13]
    for label, rows in data["runs"].items():
        for r in rows:
            lines.append(f"| {label} | {r['frames']} | {r['refine']} | {r['seed']} | {r['ate_percent']:.3f} | "
                         f"{r['ate_max_percent']:.3f} | "
                         f"{r['scale_drift_percent']:.3f} | {r['focal_error_percent']:.2f} | {r['seam_accel_percent']:.2f} | "
                         f"{r['inside_accel_percent']:.2f} | {r['seam_rot_step_deg']:.3f} | {r['inside_rot_step_deg']:.3f} | "
                         f"{r['solve_seconds']:.1f} |")
    lines += ["", "Means over seeds, stitching alone beside the adjustment:", "",
              "| code | frames | seeds | stitching ATE % | BA ATE % | stitching seam / inside accel | "
              "BA seam / inside accel |", "|---|---|---|---|---|---|---|"]
    for label, rows in data["runs"].items():
        for n in sorted({r["frames"] for r in rows}):
            cells = []
            for refine in ("none", "ba"):
                sel = [r for r in rows if r["refine"] == refine and r["frames"] == n]
                m = {k: float(np.mean([r[k] for r in sel])) if sel else float("nan")
                     for k in ("ate_percent", "seam_accel_percent", "inside_accel_percent")}
                cells.append(m)
            seeds = len({r["seed"] for r in rows if r["frames"] == n})
            lines.append(f"| {label} | {n} | {seeds} | {cells[0]['ate_percent']:.3f} | {cells[1]['ate_percent']:.3f} | "
                         + " | ".join(f"{c['seam_accel_percent'] / c['inside_accel_percent']:.2f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _scale_markdown(data: dict) -> str:
    hw = data["hardware"]
    lines = ["# Long shots at scale: peak host RSS and seconds per stage", "",
             f"Stand-in engine (VGGT-like noise, no network), 1920x1080 PNG plates (model 294x518), chunks of "
             f"{data['chunk_size']} sharing {data['overlap']}, `lens shared`, `refine ba`; each run in a fresh process. "
             f"Peak RSS per stage is the high-water mark since the previous stage (reset via /proc/self/clear_refs).", "",
             f"Hardware: {hw['cpu']}, {hw['cpu_cores']} cores, {hw['ram_gb']:.0f} GB RAM, shared with other jobs; "
             f"{hw['platform']}, Python {hw['python']}.", "", _commands(data), ""]
    for label, rows in data["runs"].items():
        names = list(rows[0]["stages"])
        lines += [f"## {label}", "", "| frames | tracks | peak RSS GB | recon GB | " +
                  " | ".join(f"{n} s / GB" for n in names) + " | ATE % |", "|" + "---|" * (5 + len(names))]
        for r in rows:
            cells = [f"{r['stages'][n]['seconds']:.1f} / {r['stages'][n]['peak_rss_gb']:.2f}" for n in names]
            lines.append(f"| {r['frames']} | {r['tracks']} | {r['peak_rss_gb']:.2f} | {r['reconstruction_gb']:.2f} | "
                         + " | ".join(cells) + f" | {r['ate_percent']:.3f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _merge(path: Path, label: str, rows: list[dict], key: str, **meta) -> dict:
    """The JSON at ``path`` with ``rows`` added to ``runs[label]`` (other labels kept: before / after), a row
    replacing the one with the same ``key`` (e.g. a 1000-frame run added to a 200/400 series)."""
    data = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    data.update(meta)
    commands = data.setdefault("commands", {}).setdefault(label, [])
    if command_line() not in commands:
        commands.append(command_line())
    merged = {json.dumps(r[key]): r for r in data["runs"].get(label, []) + rows}
    data["runs"][label] = sorted(merged.values(), key=lambda r: r[key])
    return data


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--scale-child":
        _scale_child(sys.argv[2], *map(int, sys.argv[3:6]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, help="frames of the shot (default 240; 160 with --vggt-like)")
    p.add_argument("--chunk-size", type=int, default=32)
    p.add_argument("--overlap", type=int, default=12)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--memory", metavar="CKPT", help="also measure peak RSS with this VGGT-1B checkpoint")
    p.add_argument("--vggt-like", action="store_true", help="only the VGGT-like table (160 frames, BA off / on)")
    p.add_argument("--scale", metavar="N,N,..", help="only the long-shot memory series at 1080p (e.g. 200,400,1000)")
    p.add_argument("--label", default="after", help="name of this run in the vggt-like / scale files (before/after)")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    from bench_common import hardware, write_json

    if args.vggt_like:
        path = RESULTS / "long_vggt_like.json"
        rows = vggt_like(args.frames or 160, seeds=args.seeds)
        data = _merge(path, args.label, rows, "run", noise=asdict(VGGT_LIKE), hardware=hardware("cpu"))
        write_json(path, data)
        (RESULTS / "long_vggt_like.md").write_text(_vggt_like_markdown(data))
        print(_vggt_like_markdown(data))
        return
    if args.scale:
        path = RESULTS / "long_scale.json"
        rows = scale([int(x) for x in args.scale.split(",")], args.chunk_size, 8)
        data = _merge(path, args.label, rows, "frames", chunk_size=args.chunk_size, overlap=8,
                      hardware=hardware("cpu"), noise=asdict(VGGT_LIKE))
        write_json(path, data)
        (RESULTS / "long_scale.md").write_text(_scale_markdown(data))
        print(_scale_markdown(data))
        return
    rows = accuracy(args.frames or 240, args.chunk_size, args.overlap, args.seeds)
    mem = memory(args.memory) if args.memory else None
    (RESULTS / "long_accuracy.json").write_text(json.dumps({"accuracy": rows, "memory": mem,
                                                           "noise": asdict(Noise())}, indent=2) + "\n")
    (RESULTS / "long_accuracy.md").write_text(_markdown(rows, mem))
    print(_markdown(rows, mem))


if __name__ == "__main__":
    main()
