"""Long shots: chunked reconstruction against ground truth, chained vs anchored, and peak memory.

Accuracy (seconds, no model): a synthetic shot (a camera walking 240 frames through a box room) goes
through the real pipeline (``reconstruct_frames``: frames decoded per chunk, chunk plan, Sim(3) stitching)
with ``GroundTruthEngine`` standing in for VGGT. For the frames of each chunk the stand-in returns the true
depth and cameras expressed in that chunk's own normalised frame (first camera = identity, mean depth 1
times a random factor: an arbitrary scale per chunk) with noise (``Noise``). The stitched cameras are compared
with the truth after one global Sim(3): ATE (RMS camera-centre error) as a percentage of the path length, and
the scale drift (median stitched/true depth ratio over the last 10 % of frames against the first 10 %).

    python bench/bench_long.py                    # accuracy table -> bench/results/long_accuracy.{json,md}
    python bench/bench_long.py --memory CKPT      # + peak RSS: 24 frames at 294x518 in chunks of 8 vs one
                                                  #   8-frame run (each in a fresh process; minutes on a CPU)

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
from bench_common import RESULTS, peak_rss_gb  # noqa: E402
from solve_shots import rotation  # noqa: E402
from vggt_core.chunks import umeyama  # noqa: E402


@dataclass(frozen=True)
class Noise:
    """What the stand-in gets wrong, per chunk call (all relative to the chunk's scale).

    rotation_deg / translation: per-frame camera error (translation as a fraction of the mean depth);
    depth_bias: per-frame depth scale error (std); depth_pixel: per-pixel multiplicative depth noise (std);
    outliers: fraction of pixels with a wrong depth (x 0.3..2), half of them still confident;
    far_gain: error (and confidence) multiplier per window length an anchor frame lies outside the chunk's
    consecutive frames, since a network sees little of a far-away frame's content.
    """

    rotation_deg: float = 0.15
    translation: float = 0.003
    depth_bias: float = 0.005
    depth_pixel: float = 0.01
    outliers: float = 0.02
    far_gain: float = 4.0


@dataclass
class Shot:
    """Ground truth: extrinsics [S,3,4] camera-from-world (OpenCV), model intrinsics [3,3], depth [S,H,W]."""

    extrinsics: np.ndarray
    intrinsics: np.ndarray
    depth: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        R, t = self.extrinsics[:, :, :3], self.extrinsics[:, :, 3]
        return -np.einsum("sji,sj->si", R, t)


def _look(forward: np.ndarray, up: np.ndarray = np.array([0.0, -1.0, 0.0])) -> np.ndarray:
    """Camera-from-world rotation of a camera looking along ``forward`` (OpenCV: y down)."""
    z = forward / np.linalg.norm(forward)
    x = np.cross(-up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def synthetic_shot(n: int = 240, H: int = 56, W: int = 112, half: tuple = (12.0, 2.5, 20.0)) -> Shot:
    """A camera walking a weaving path along z through a box room (half-sizes ``half``), looking ahead.

    Depth is ray-cast to the walls at pixel centres of an H x W image with a 60-degree horizontal field.
    """
    s = np.linspace(0.0, 1.0, n)
    centres = np.stack([3.0 * np.sin(2 * np.pi * s * 1.5), 0.4 * np.sin(2 * np.pi * s * 3), -15.0 + 30.0 * s], 1)
    f = 0.5 * W / np.tan(np.radians(30))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    rays_cam = np.stack([(u - W / 2) / f, (v - H / 2) / f, np.ones_like(u)], -1)  # z = 1
    ext, depth = [], []
    for i in range(n):
        ahead = centres[min(i + 5, n - 1)] - centres[max(i - 5, 0)]
        yaw = 0.35 * np.sin(2 * np.pi * s[i] * 2)
        forward = np.array([ahead[0] + np.sin(yaw) * 8, ahead[1], ahead[2]])
        R = _look(forward)
        ext.append(np.concatenate([R, (-R @ centres[i])[:, None]], 1))
        d = rays_cam @ R  # world directions (rows of R^T applied), per unit z
        bound = np.where(d > 0, np.array(half), -np.array(half))
        with np.errstate(divide="ignore"):
            t = np.where(np.abs(d) > 1e-12, (bound - centres[i]) / d, np.inf)
        depth.append(t.min(-1))  # z-depth: rays have unit z in the camera
    return Shot(np.array(ext), K, np.array(depth))


class GroundTruthEngine:
    """Engine stand-in: for the frames it is fed, the truth in the chunk's own frame, with noise.

    frames are recognised by their preprocessed image (``register``). model_id names a file when the run
    should be cacheable (resume tests), else "<ground truth>" (never cached).
    """

    numerics = {"device": "cpu", "dtype": "float32"}

    def __init__(self, shot: Shot, noise: Noise = Noise(), seed: int = 0, model_id: str = "<ground truth>") -> None:
        self.shot, self.noise, self.seed, self.model_id = shot, noise, seed, model_id
        self.lookup: dict[str, int] = {}
        self.calls: list[list[int]] = []

    def register(self, images: np.ndarray) -> None:
        """images: [S,3,H,W] the preprocessed frames of the shot, in order."""
        self.lookup = {_digest(img): i for i, img in enumerate(images)}

    def predict(self, images, query_points=None, progress=None, cancel=None, query_frames=None) -> dict[str, np.ndarray]:
        from vggt_core.errors import Cancelled

        ids = [self.lookup[_digest(np.asarray(img))] for img in images]
        self.calls.append(ids)
        for k in range(4):  # a network's aggregator reports progress and polls cancel as it goes
            if cancel is not None and cancel():
                raise Cancelled("reconstruction cancelled")
            if progress is not None:
                progress("aggregator", k / 3)
        return self._truth(ids)

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
        scale = 1.0 / float(np.mean(shot.depth[ids])) * rng.uniform(0.5, 2.0)
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
            d = shot.depth[i] * scale * (1 + nz.depth_bias * gain[j] * rng.normal())
            d = d * (1 + nz.depth_pixel * gain[j] * rng.normal(size=d.shape))
            c = 1.0 + np.exp(rng.normal(2.0, 0.5, size=d.shape)) / gain[j]
            bad = rng.random(d.shape) < nz.outliers
            d[bad] *= rng.uniform(0.3, 2.0, size=int(bad.sum()))
            c[bad & (rng.random(d.shape) < 0.5)] = 1.2
            depth.append(d)
            conf.append(c)
        ext, depth, conf = np.array(ext, np.float32), np.array(depth, np.float32), np.array(conf, np.float32)
        K = np.repeat(shot.intrinsics[None], S, 0).astype(np.float32)
        from vggt_core.geometry import unproject_depth_map_to_point_map

        points = unproject_depth_map_to_point_map(depth, ext, K, pixel_offset=0.5).astype(np.float32)
        return {"extrinsic": ext, "intrinsic": K, "depth": depth, "depth_conf": conf,
                "world_points": points, "world_points_conf": conf.copy()}


def _digest(img: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(img, np.float32).tobytes()).hexdigest()


def write_shot_frames(folder: Path, n: int, size: tuple[int, int] = (224, 112)) -> list[Path]:
    """n distinct small PNG frames (random noise, seeded by index): the stand-in only needs to tell them apart."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(i)
        path = folder / f"frame_{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def standin_for(folder: Path, shot: Shot, settings, noise: Noise = Noise(), seed: int = 0,
                model_id: str = "<ground truth>") -> tuple[list, GroundTruthEngine]:
    """(frame infos of ``folder``, a stand-in that knows them) for ``settings``' preprocessing."""
    from vggt_core.frames import list_frames, read_frames
    from vggt_core.preprocess import plan_batch, render

    infos = list_frames(folder, settings.selection)
    records = plan_batch([(i.width, i.height) for i in infos], settings.mode, settings.resolution)
    engine = GroundTruthEngine(shot, noise, seed, model_id)
    engine.register(np.stack([render(f, r) for f, r in zip(read_frames(infos), records)]))
    return infos, engine


def evaluate(extrinsics: np.ndarray, depth: np.ndarray, shot: Shot) -> dict[str, float]:
    """ATE (% of path length) after one global Sim(3), and end-to-end scale drift (%)."""
    est = Shot(np.asarray(extrinsics, np.float64), shot.intrinsics, depth).centres
    true = shot.centres
    s, R, t = umeyama(est, true, np.ones(len(est)))
    err = np.linalg.norm(est @ (s * R).T + t - true, axis=1)
    path = float(np.linalg.norm(np.diff(true, axis=0), axis=1).sum())
    tenth = max(1, len(true) // 10)
    ratio = np.array([np.median(depth[i] / shot.depth[i]) for i in range(len(true))])
    drift = float(np.median(ratio[-tenth:]) / np.median(ratio[:tenth]) - 1.0)
    return {"ate_percent": 100 * float(np.sqrt(np.mean(err ** 2))) / path,
            "ate_max_percent": 100 * float(err.max()) / path, "scale_drift_percent": 100 * abs(drift),
            "path_length": path}


def accuracy(n: int = 240, chunk_size: int = 32, overlap: int = 12, seeds: int = 5) -> list[dict]:
    from vggt_core.pipeline import ReconstructSettings, reconstruct_frames

    shot = synthetic_shot(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_shot_frames(Path(tmp), n)
        # Chained chunks hold no frame from outside their window, so far_gain only matters for anchored.
        for strategy, far_gain in (("chained", Noise().far_gain), ("anchored", Noise().far_gain), ("anchored", 0.0)):
            settings = ReconstructSettings(resolution=112, chunk_size=chunk_size, overlap=overlap, strategy=strategy)
            for seed in range(seeds):
                infos, engine = standin_for(Path(tmp), shot, settings, Noise(far_gain=far_gain), seed=seed)
                recon = reconstruct_frames(infos, settings, engine)
                row = {"strategy": strategy, "far_gain": far_gain, "seed": seed, "frames": n,
                       "chunk_size": chunk_size, "overlap": overlap,
                       "chunks": len(recon.chunks), **evaluate(recon.extrinsics, recon.depth, shot),
                       "worst_fit_residual_median": max(c["residual_median"] for c in recon.chunks)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    return rows


def _memory_child(weights: str, frames: int, chunk_size: int, folder: str) -> None:
    """One measured run in this (fresh) process; prints a JSON line with its peak RSS."""
    import time

    from vggt_core.engine import Engine
    from vggt_core.frames import list_frames
    from vggt_core.pipeline import ReconstructSettings, reconstruct_frames

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
             "| strategy | far_gain | seed | chunks | ATE % of path | max error % | scale drift % | worst fit residual |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['far_gain']:g} | {r['seed']} | {r['chunks']} | {r['ate_percent']:.3f} | "
                     f"{r['ate_max_percent']:.3f} | {r['scale_drift_percent']:.3f} | {r['worst_fit_residual_median']:.4f} |")
    if mem:
        lines += ["", "## Peak memory (CPU, fp32, synthetic VGGT-1B checkpoint, 294x518)", "",
                  "| frames | chunk size | cameras | seconds | peak RSS GB |", "|---|---|---|---|---|"]
        lines += [f"| {m['frames']} | {m['chunk_size'] or 'one run'} | {m['cameras']} | {m['seconds']:.0f} | "
                  f"{m['peak_rss_gb']:.2f} |" for m in mem]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=240)
    p.add_argument("--chunk-size", type=int, default=32)
    p.add_argument("--overlap", type=int, default=12)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--memory", metavar="CKPT", help="also measure peak RSS with this VGGT-1B checkpoint")
    args = p.parse_args()
    rows = accuracy(args.frames, args.chunk_size, args.overlap, args.seeds)
    mem = memory(args.memory) if args.memory else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "long_accuracy.json").write_text(json.dumps({"accuracy": rows, "memory": mem,
                                                           "noise": asdict(Noise())}, indent=2) + "\n")
    (RESULTS / "long_accuracy.md").write_text(_markdown(rows, mem))
    print(_markdown(rows, mem))


if __name__ == "__main__":
    main()
