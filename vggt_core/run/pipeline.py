"""From "these images / this video" to a ``Reconstruction``: list -> read -> preprocess -> engine -> map back.

Usable without Blender; the CLI and the Blender worker both call ``reconstruct``. Progress stages, in order:
``"frames"`` (decoding + resizing, frame by frame), ``"preprocess"`` (reported once done), then the engine's
own stages; ``cancel()`` is polled between frames while reading and inside the engine.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import cache
from .. import stitch
from . import chunked
from .. import solve
from ..derived import derived_arrays
from ..errors import CacheError, InputError
from ..plate.masks import Masks, check_masks, digest, load_mattes, mask_pixels, mask_to_model, matte_files
from ..plate.frames import FrameSelection, Inputs, iter_frames, list_frames
from ..plate.preprocess import MODES, TARGET, intrinsics_to_original, plan_batch, render
from ..reconstruction import FrameInfo, PreprocessRecord, Reconstruction

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class ReconstructSettings:
    """What to reconstruct and how; ``dataclasses.asdict`` gives the JSON form stored with results.

    selection: which frames of the input to use.
    mode: ``"crop"`` (full width, centre rows; the original's default) or ``"pad"`` (whole frame, white bars).
    resolution: model canvas size in pixels (multiple of 14; 518 is what VGGT was trained at).
    query_points: optional ``N x (x, y)`` points to track, in continuous model pixels of frame 0.
    chunk_size: frames per network run; longer shots are reconstructed in overlapping chunks stitched into
        one world (``vggt_core.stitch``). 0 = automatic: one run when the frames fit in free GPU memory / RAM.
    overlap: frames each chunk shares with the previous one (0 = automatic, ``stitch.auto_overlap``).
    strategy: ``"anchored"`` (every chunk also holds a few frames spread across the shot) or ``"chained"``.
    Cache keys (``network_settings``, ``cache_path``): the network's output is keyed by the fields that
    change what the network sees, the solved result by all of them, so a new solve setting needs no key
    code; a new setting that changes the network's input or output must be added to ``network_settings``.

    lens, focal_mm, sensor_width_mm, focal_px, refine, distortion: the camera solve run after the model
        (``vggt_core.solve.solve``); ``refine="ba"`` (the default; ``"none"`` is a network-only preview) also
        tracks grids of points on ``track_frames`` query
        frames spread over the shot with the track head (``vggt_core.solve.tracks.track_queries``); in
        chunks, over each chunk, all chunks' tracks going into one adjustment (``stitch.stitch_tracks``).
        focal_mm, sensor_width_mm and focal_px describe a known lens only: None unless ``lens="known"``.
    motion: the solve's camera motion model with ``refine="ba"``: ``auto``, ``free`` or ``tripod``
        (``vggt_core.solve.motion``); a solve-only setting, like the lens fields.
    track_refine: with ``refine="ba"``, ``plate`` refines the track head's tracks on the plate's own
        full-resolution pixels before the solve (``vggt_core.solve.plate_tracks``: the plate is read again),
        ``none`` solves on the head's model-resolution tracks; a solve setting (re-solves from the cached
        network output).
    mask, mask_invert: a matte folder or movie of what moves (``vggt_core.plate.masks.load_mattes``; white or alpha =
        keep out, ``mask_invert`` swaps), or None; masks handed to ``reconstruct_frames`` as arrays win, and
        ``mask`` then describes them in ``"<...>"`` with their digest. A matte's files enter the keys by size and
        mtime (``cache.file_stamps``), arrays by their digest: a matte re-rendered in place re-solves.
    mask_solve: masked track observations never enter the adjustment; mask_points: masked pixels make no
        points and no proxy faces (``Reconstruction.valid`` False). reject_movers: without a mask, whole
        tracks that do not fit a static scene are kept out of the solve (``vggt_core.solve.movers``).
        These are solve settings: a new mask re-solves from the cached network output.
        mask_blank: masked pixels are painted white (as padding is) in the network's input (off by default:
        VGGT's maintainers suggest it for moving objects, but it also hides what is behind them); with it the
        mask is part of the network's key (``network_settings``).
    frame_numbers: the number each frame is delivered on, one per frame (``vggt_core.plate.frame_numbers``,
        worked out once by the caller: ``vggt-reconstruct`` with ``--frame-start``, the Blender import on its
        timeline); the solve report names frames by them. None: the plate's own (``plate_frame_numbers``).
        A solve setting: the report is cached with the solved result.
    """

    selection: FrameSelection = field(default_factory=FrameSelection)
    mode: str = "crop"
    resolution: int = TARGET
    query_points: tuple[tuple[float, float], ...] | None = None
    chunk_size: int = 0
    overlap: int = 0
    strategy: str = stitch.DEFAULT_STRATEGY
    lens: str = "auto"
    focal_mm: float | None = None
    sensor_width_mm: float | None = None
    focal_px: float | None = None
    refine: str = "ba"
    distortion: str = "none"
    track_frames: int = solve.TRACK_FRAMES
    motion: str = "auto"
    track_refine: str = "plate"
    mask: str | None = None
    mask_invert: bool = False
    mask_solve: bool = True
    mask_points: bool = True
    mask_blank: bool = False
    reject_movers: bool = True
    frame_numbers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown preprocessing mode {self.mode!r} (use 'crop' or 'pad')")
        if self.query_points is not None:
            pts = np.asarray(self.query_points, dtype=np.float64).reshape(-1, 2)
            object.__setattr__(self, "query_points", tuple((float(x), float(y)) for x, y in pts))
        if self.frame_numbers is not None:  # lists from JSON or numpy: a hashable tuple of ints
            object.__setattr__(self, "frame_numbers", tuple(int(n) for n in self.frame_numbers))
        if self.lens != "known":  # a focal and sensor only describe a known lens: never part of another's key
            for name in ("focal_mm", "sensor_width_mm", "focal_px"):
                object.__setattr__(self, name, None)
        if self.chunk_size < 0 or self.overlap < 0:
            raise InputError("--chunk-size and --overlap must be >= 0 (0 = automatic)")
        if 0 < self.chunk_size <= self.overlap:
            raise InputError(f"--overlap ({self.overlap}) must be smaller than --chunk-size ({self.chunk_size})")
        if self.strategy not in stitch.STRATEGIES:
            raise InputError(f"unknown chunk strategy {self.strategy!r} (use {' or '.join(stitch.STRATEGIES)})")
        if self.track_frames < 1:
            raise InputError("--track-frames must be at least 1")
        if self.track_refine not in solve.TRACK_REFINES:
            raise InputError(f"unknown track refinement {self.track_refine!r} (use 'plate' or 'none')")
        solve.check(self.lens, self.refine, self.distortion, self.focal_px, self.focal_mm, self.sensor_width_mm,
                    self.motion)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReconstructSettings:
        """Inverse of ``dataclasses.asdict``."""
        data = dict(data)
        data["selection"] = FrameSelection(**data.get("selection", {}))
        return cls(**data)


# The one set of defaults: ``vggt-reconstruct``, ``blender -b -c vggt``, manifest rows (``cli_options``,
# ``solve_options``) and the panel's properties read theirs from here. The default run solves (``refine="ba"``,
# ``lens="auto"``): a network-only run is a preview one switch away (``refine="none"``).
DEFAULTS = ReconstructSettings()


def reconstruct(
    inputs: Inputs,
    settings: ReconstructSettings,
    engine: Any,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    cache_dir: str | Path | None = None,
) -> Reconstruction:
    """Run VGGT on ``inputs`` (image folder, video file, or image files) and return original-pixel results.

    engine: a ``vggt_core.network.engine.Engine`` (anything with ``model_id`` and ``predict``).
    cache_dir: when given, the network's output and the solved result are stored as ``<cache_dir>/<key>.npz``
        (see ``network_path`` and ``cache_path``); a later call with the same frames and mattes (paths, sizes,
        mtimes, video indices), weights, device type, precision and settings loads the solved result, and one that
        changes only solve settings re-solves the network's output, both without loading or running the
        model. Engines whose ``model_id`` does not name the weights (``"<in-memory>"`` from
        ``Engine.from_model``) are never cached, since two such models would share entries.
    Raises InputError / WeightsError / OutOfMemoryError / Cancelled (all ``VGGTError``).
    """
    return reconstruct_frames(list_frames(inputs, settings.selection), settings, engine, progress, cancel, cache_dir)


def check_frames(infos: Sequence[FrameInfo], settings: ReconstructSettings) -> None:
    """Raise InputError (one line) for settings these frames cannot be solved with (e.g. a shared lens on
    frames of several sizes), before any model loads or network runs."""
    solve.check(settings.lens, settings.refine, settings.distortion, settings.focal_px, settings.focal_mm,
                settings.sensor_width_mm, settings.motion,
                sizes=[(i.width, i.height) for i in infos])
    if settings.frame_numbers is not None and len(settings.frame_numbers) != len(infos):
        raise InputError(f"{len(settings.frame_numbers)} frame numbers for {len(infos)} frames: give one number per frame")


def mask_arrays(infos: Sequence[FrameInfo], settings: ReconstructSettings, masks: Masks | None) -> Masks | None:
    """The run's masks: ``masks`` (checked against ``infos``), else ``settings.mask`` read for ``infos``, else None.
    Raises InputError (one line) for a missing or mismatched matte."""
    if masks is not None:
        check_masks(masks, infos)
        return masks
    return load_mattes(settings.mask, infos, settings.mask_invert) if settings.mask else None


def network_settings(settings: ReconstructSettings) -> dict[str, Any]:
    """What of ``settings`` changes the network's output: preprocessing, chunking and the track queries.

    This, with the frames and the model, keys the network cache; everything else (lens, refinement,
    distortion and whatever else the solve reads) only keys the solved result, so changing it re-solves
    from the cached network output. A new setting that changes what the network sees (e.g. blanked
    masks) must be added here.
    """
    grid = settings.query_points is None and settings.refine == "ba"  # see run_frames
    return {
        "network": {
            "mode": settings.mode, "resolution": settings.resolution, "query_points": settings.query_points,
            "chunk_size": settings.chunk_size, "overlap": settings.overlap, "strategy": settings.strategy,
            "track_grid": {"frames": settings.track_frames, "queries": solve.TRACK_QUERIES,
                           "seams": stitch.TRACKS_VERSION} if grid else None,
            "blanked_mask": _blanked(settings),
        }
    }


def _blanked(settings: ReconstructSettings) -> dict[str, Any] | None:
    """The mask painted into the network's input (None without blanking): part of every network key."""
    return {"mask": settings.mask, "invert": settings.mask_invert} if settings.mask_blank and settings.mask else None


def _matte_files(settings: ReconstructSettings, infos: Sequence[FrameInfo]) -> list[Path]:
    """The matte files ``settings.mask`` names for ``infos``: none without a matte, or when ``mask`` describes
    arrays (``"<...>"``, their digest in it)."""
    return [] if not settings.mask or settings.mask.startswith("<") else matte_files(settings.mask, infos)


def _model_identity(cache_dir: str | Path, engine: Any) -> dict[str, Any] | None:
    """The weights by content plus device type and dtype, or None when the weights cannot be identified."""
    if engine.model_id.startswith("<"):
        return None
    weights = cache.weights_identity(engine.model_id, memo_dir=cache_dir)
    return None if weights is None else {"weights": weights, **engine.numerics}


def _stored(cache_dir: str | Path, infos: Sequence[FrameInfo], engine: Any, settings: Any,
            files: Sequence[Path] = (), code: Mapping[str, int] | None = None) -> Path | None:
    """``<cache_dir>/<cache.cache_key(...)>.npz``, or None when the weights cannot be identified."""
    identity = _model_identity(cache_dir, engine)
    if identity is None:
        return None
    return Path(cache_dir) / f"{cache.cache_key(infos, identity, settings, files, code)}.npz"


def cache_path(cache_dir: str | Path, infos: Sequence[FrameInfo], engine: Any, settings: ReconstructSettings) -> Path | None:
    """Where ``reconstruct_frames`` stores (and looks for) the solved result of this run, without loading a model.

    The key covers the frames, the whole ``settings`` object, the matte files (size, mtime), the weights by
    content (``cache.weights_identity``: a repo id, its file in the Hugging Face cache and a copy of that file
    all agree), the engine's resolved device type and compute dtype (``engine.numerics``), the solve's code
    version (``solve.VERSION``) and the cache format version. None when the weights cannot be identified yet:
    an in-memory model (``model_id`` "<in-memory>"), or a repo not downloaded yet.
    Raises InputError (one line) for a missing matte.
    """
    return _stored(cache_dir, infos, engine, settings, _matte_files(settings, infos), {"solve": solve.VERSION})


def network_path(cache_dir: str | Path, infos: Sequence[FrameInfo], engine: Any, settings: ReconstructSettings) -> Path | None:
    """Where the network's output for this run (before the solve) is stored: ``cache_path``'s key with only
    ``network_settings(settings)`` in place of the whole settings, the matte files only when the network saw
    them (``mask_blank``), and no solve version."""
    files = _matte_files(settings, infos) if _blanked(settings) else []
    return _stored(cache_dir, infos, engine, network_settings(settings), files)


def _network_paths(cache_dir: str | Path, infos: Sequence[FrameInfo], engine: Any,
                   settings: ReconstructSettings) -> list[Path]:
    """The network outputs this run can solve from, its own first; a run without adjustment can also use
    one that tracked points for it (the tracks go unused), so turning adjustment off only re-solves."""
    candidates = [settings]
    if settings.refine != "ba" and settings.query_points is None:
        candidates.append(replace(settings, refine="ba"))
    return [p for p in (network_path(cache_dir, infos, engine, c) for c in candidates) if p is not None]


def needs_network(cache_dir: str | Path | None, infos: Sequence[FrameInfo], engine: Any,
                  settings: ReconstructSettings) -> bool:
    """False when ``cache_dir`` holds this run's solved result or a network output it can solve from (so
    the model need not load); cheap: no model, no array read."""
    if cache_dir is None:
        return True
    solved = cache_path(cache_dir, infos, engine, settings)
    paths = ([solved] if solved is not None else []) + _network_paths(cache_dir, infos, engine, settings)
    return not any(p.is_file() for p in paths)


def load_cached(path: Path | None) -> Reconstruction | None:
    """The result stored at ``path`` (timed as ``timings["cache_load"]``), or None when there is none or it
    is unusable (logged; it is then recomputed and overwritten)."""
    if path is None or not path.is_file():
        return None
    t0 = time.perf_counter()
    try:
        recon = cache.load(path)
    except CacheError as err:
        log.warning("ignoring unusable cache file: %s", err)
        return None
    recon.timings["cache_load"] = time.perf_counter() - t0
    return recon


def reconstruct_frames(
    infos: Sequence[FrameInfo],
    settings: ReconstructSettings,
    engine: Any,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    cache_dir: str | Path | None = None,
    network: bool = True,
    masks: Masks | None = None,
) -> Reconstruction:
    """``reconstruct`` for frames already listed with ``list_frames`` (``settings.selection`` is not re-applied).

    masks: per frame a plate-resolution ``[H, W]`` bool mask (True = keep out) or None, e.g. Blender Masks
    rasterised on the main thread; else ``settings.mask`` is read (before any model work, so a bad matte fails
    first).

    Settings are checked against the frames first (``check_frames``). With ``cache_dir``, two entries:
    the network's output under ``network_path`` (saved before the solve runs, so a solve that fails loses
    nothing) and the solved result under ``cache_path``. A solved hit returns at once; a network hit only
    re-solves (seconds); either way the engine never loads its model. More frames than the chunk size (see
    ``ReconstructSettings``) are reconstructed in chunks, each chunk's raw result stored in ``cache_dir``
    until the stitched network output is, so an interrupted run resumes from the chunk it stopped in.
    network: False to re-solve only: raises CacheError when the network output is not cached.
    """
    check_frames(infos, settings)
    report = progress or (lambda stage, fraction: None)
    masks = mask_arrays(infos, settings, masks)
    if masks is not None and not settings.mask:  # arrays (from Blender): their content keys the cache
        settings = replace(settings, mask=f"<arrays sha256 {digest(masks)}>")
    solved_path = cache_path(cache_dir, infos, engine, settings) if cache_dir is not None else None
    recon = load_cached(solved_path)
    if recon is not None:
        report("frames", 1.0)
        return recon
    raw, raw_path = None, None
    for path in _network_paths(cache_dir, infos, engine, settings) if cache_dir is not None else []:
        raw = load_cached(path)
        if raw is not None:
            raw_path = path
            break
    fresh = raw is None
    if not fresh:
        report("frames", 1.0)
    elif not network:
        raise CacheError("the network's output for these frames is not cached (footage, model, device, precision "
                         "or frame settings changed, or the cache was cleared): run VGGT again")
    else:
        raw = run_network(infos, settings, engine, progress, cancel, cache_dir, masks)  # saved there, before the solve
        if cache_dir is not None:
            solved_path = solved_path or cache_path(cache_dir, infos, engine, settings)  # a first download makes weights known
            raw_path = network_path(cache_dir, infos, engine, settings)
    solve_masks = masks if settings.mask_solve else None
    if settings.refine == "ba" and settings.track_refine == "plate" and raw.tracks is not None:
        report("plate tracks", 0.0)
        raw = solve.refine_tracks(raw, solve_masks, cancel, lambda f: report("plate tracks", f))
    recon = solve.solve(raw, settings.lens, settings.focal_px, settings.focal_mm, settings.sensor_width_mm,
                        settings.refine, settings.distortion, cancel, motion=settings.motion,
                        masks=solve_masks, reject_movers=settings.reject_movers,
                        frame_numbers=settings.frame_numbers)
    if masks is not None and settings.mask_points:
        masked = mask_pixels(masks, recon.preprocess)
        recon = replace(recon, masked=masked, valid=recon.valid & ~masked)
    if solved_path is not None:
        if recon is raw and fresh:
            # The solve left this run's network output as it is: one file under both keys, not two copies.
            _link(network_path(cache_dir, infos, engine, settings), solved_path)
        else:  # (the settings stored with a network output from an earlier run are that run's)
            recon = replace(recon, settings=asdict(settings))
            shared = (raw_path, raw) if raw_path is not None and raw_path.is_file() else None
            cache.save(recon, solved_path, base=shared)  # the dense arrays stay in the network's file
    return recon


def _link(src: Path, dst: Path) -> None:
    """``dst`` as a second name of ``src`` (a copy where hard links are not possible)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def run_network(
    infos: Sequence[FrameInfo],
    settings: ReconstructSettings,
    engine: Any,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    cache_dir: str | Path | None = None,
    masks: Masks | None = None,
) -> Reconstruction:
    """The network's output for ``infos`` before any solve: one run, or chunks stitched into one world;
    stored under ``network_path`` when ``cache_dir`` is given and the weights are identifiable. ``masks``
    are painted white in the network's input when ``settings.mask_blank`` is on."""
    records = plan_batch([(i.width, i.height) for i in infos], settings.mode, settings.resolution)
    wm, hm = records[0].model_size
    size = settings.chunk_size or stitch.auto_chunk_size(engine, len(infos), hm, wm)
    plan = stitch.plan_chunks(len(infos), size, settings.overlap or stitch.auto_overlap(size), settings.strategy)
    blank = masks if masks is not None and settings.mask_blank else None
    if len(plan) == 1:
        recon = run_frames(infos, records, settings, engine, progress, cancel, blank)
        _save_network(recon, cache_dir, infos, engine, settings)
        return recon
    if settings.query_points is not None:  # they lie on frame 0, which only the first chunk holds
        raise InputError("point tracking from given query points needs a single run: set the chunk size to 0 "
                         "or above the frame count")
    chunk_cache = None
    if cache_dir is not None:
        key = {"chunk_of": {"mode": settings.mode, "resolution": settings.resolution, "model_size": [wm, hm]}}
        if settings.refine == "ba":  # such chunks also hold their tracks
            key["chunk_of"]["track_frames"] = settings.track_frames
            key["chunk_of"]["seams"] = stitch.TRACKS_VERSION
        if blank is not None:  # the network saw the masks: their description, and the chunk's matte files
            key["chunk_of"]["mask"] = _blanked(settings)

        def chunk_cache(pos: Sequence[int]) -> Path | None:
            part = [infos[p] for p in pos]
            return _stored(cache_dir, part, engine, key, _matte_files(settings, part) if blank is not None else [])
    recon = chunked.reconstruct_chunked(
        infos, records, plan,
        lambda pos, recs, prog, stop: run_frames([infos[p] for p in pos], recs, settings, engine, prog, stop,
                                                 None if blank is None else [blank[p] for p in pos],
                                                 stitch.seam_query_frames(plan, pos, settings.track_frames)),
        chunk_cache, progress, cancel)
    if _save_network(recon, cache_dir, infos, engine, settings):
        chunked.remove_chunk_files(plan, chunk_cache)  # the stitched output supersedes them
    return recon


def _save_network(recon: Reconstruction, cache_dir: str | Path | None, infos: Sequence[FrameInfo], engine: Any,
                  settings: ReconstructSettings) -> bool:
    """Store the network output ``recon`` under ``network_path``; False when there is no cache to store it in."""
    path = None if cache_dir is None else network_path(cache_dir, infos, engine, settings)
    if path is not None:
        cache.save(recon, path)
    return path is not None


def run_frames(
    infos: Sequence[FrameInfo],
    records: Sequence[PreprocessRecord],
    settings: ReconstructSettings,
    engine: Any,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    blank: Masks | None = None,
    query_frames: Sequence[int] | None = None,
) -> Reconstruction:
    """One network run on ``infos`` (preprocessed as ``records`` say): decode, engine, assemble; no cache.
    blank: per frame a plate mask (or None) whose pixels are painted white in the network's input.
    query_frames: with ``refine="ba"``, the frames (indices into ``infos``) its track grids lie on (a chunk's:
    ``stitch.seam_query_frames``); None: ``solve.track_queries``' own spread."""
    report = progress or (lambda stage, fraction: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # Decode and resize frame by frame, so full-resolution frames never pile up in memory.
    wm, hm = records[0].model_size
    images = np.empty((len(infos), 3, hm, wm), dtype=np.float32)
    timings["preprocess"] = 0.0
    report("frames", 0.0)
    for pos, frame in iter_frames(infos, progress=lambda f: report("frames", f), cancel=cancel):
        t1 = time.perf_counter()
        render(frame, records[pos], images[pos])
        if blank is not None and blank[pos] is not None:
            images[pos][:, mask_to_model(blank[pos], records[pos])] = 1.0  # white, as padding is
        timings["preprocess"] += time.perf_counter() - t1
    timings["frames"] = time.perf_counter() - t0 - timings["preprocess"]
    report("preprocess", 1.0)

    t0 = time.perf_counter()
    query = None if settings.query_points is None else np.asarray(settings.query_points, np.float32)
    if query is None and settings.refine == "ba":
        query, query_frames = solve.track_queries(records, solve.TRACK_QUERIES, settings.track_frames, query_frames)
    else:
        query_frames = None
    pred = engine.predict(images, query_points=query, progress=progress, cancel=cancel, query_frames=query_frames)
    timings["model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    recon = assemble(infos, records, images, pred, query, engine.model_id, asdict(settings), timings, query_frames)
    recon.timings["assemble"] = time.perf_counter() - t0
    return recon


def assemble(
    infos: Sequence[FrameInfo],
    records: Sequence[PreprocessRecord],
    images: np.ndarray,
    pred: Mapping[str, np.ndarray],
    query_points: np.ndarray | None = None,
    model_id: str = "",
    settings: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    query_frames: np.ndarray | None = None,
) -> Reconstruction:
    """Engine predictions (model pixels) + preprocessing records -> a ``Reconstruction``.

    images: ``[S, 3, H, W]`` float32 in [0, 1], what the engine saw (becomes ``colors``).
    pred: the engine's dict (see ``Engine.predict``): extrinsic [S,3,4], intrinsic [S,3,3] (model px),
        depth [S,H,W(,1)], depth_conf, world_points, world_points_conf, optional track/vis/conf.
    query_points: the ``[N, 2]`` model-pixel queries that produced ``pred["track"]``, if any, and
    query_frames: the ``[N]`` frame each lies on (None: frame 0).
    Intrinsics are mapped to original pixels through each record; ``points_from_depth`` unprojects the depth
    at pixel centres (u + 0.5, v + 0.5) with the model-pixel intrinsics.
    """
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    extrinsics = f32(pred["extrinsic"])
    k_model = f32(pred["intrinsic"])
    depth = f32(pred["depth"])
    if depth.ndim == 4:
        depth = depth[..., 0]
    derived = derived_arrays(depth, extrinsics, k_model, records)
    has_tracks = pred.get("track") is not None
    return Reconstruction(
        frames=list(infos),
        preprocess=list(records),
        extrinsics=extrinsics,
        intrinsics=f32(intrinsics_to_original(k_model, records)),
        intrinsics_model=k_model,
        depth=depth,
        depth_conf=f32(np.reshape(pred["depth_conf"], depth.shape)),
        world_points=f32(pred["world_points"]),
        world_points_conf=f32(np.reshape(pred["world_points_conf"], depth.shape)),
        colors=np.rint(np.asarray(images).transpose(0, 2, 3, 1) * 255.0).astype(np.uint8),
        **derived,
        model_id=model_id,
        settings=dict(settings or {}),
        timings=dict(timings or {}),
        tracks=f32(pred["track"]) if has_tracks else None,
        track_vis=f32(pred["vis"]) if has_tracks else None,
        track_conf=f32(pred["conf"]) if has_tracks and pred.get("conf") is not None else None,
        query_points=f32(query_points) if has_tracks and query_points is not None else None,
        query_frames=np.asarray(query_frames, np.int32) if has_tracks and query_frames is not None else None,
    )
