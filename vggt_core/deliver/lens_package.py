"""The lens package of a matchmove delivery: one lens description, ST-maps, the overscan, a JSON (no bpy).

``LensPackage`` is one frame's description of the plate's lens (COLMAP model and values, plate size, overscan)
that the exports read; ``lens_from_reconstruction`` takes it from the solved lens (``Reconstruction.lens`` and that
frame's intrinsics; identity, i.e. PINHOLE, without solved distortion). The distortion is COLMAP's, as the solve fits it
(``vggt_core.solve.adjust``): SIMPLE_RADIAL / RADIAL scale normalised coordinates by
``1 + k1 r^2 (+ k2 r^4)``; the maths is pycolmap's ``Camera.img_from_cam`` / ``cam_from_img``.

Pixels: continuous, the plate spans ``[0, W] x [0, H]``, pixel ``(i, j)`` (column, row from the top) has
its centre at ``(i + 0.5, j + 0.5)`` (``Reconstruction``'s and COLMAP's convention).

The *undistorted* image is the pinhole camera with the plate's ``fx, fy, cx, cy`` on an overscan canvas
``Wo x Ho`` centred on the plate (the plate's pixel ``(x, y)`` sits at ``(x + (Wo - W) / 2, y + (Ho - H) / 2)``),
just large enough that no undistorted plate pixel falls outside it. CG is rendered on that canvas and
redistorted to the plate size.

A zoom's lens (``ShotLens`` with ``zoom``) is one ``LensPackage`` per plate frame: the shot's model and
principal point with that frame's focal and distortion. The distortion acts on normalised coordinates, so its
pixel displacement changes with the focal (and the distortion with the zoom), and each frame has its own ST-maps
(``stmap_undistort.NNNN.exr``, on the plate frame numbers); the frames share one canvas, the largest any of them needs, so the render size
and the undistorted plate's stay fixed over the shot.

ST-maps follow Nuke's ``STMap`` node: each pixel of the output holds where to sample the input, red = u
and green = v normalised to 0-1 over the input, origin bottom-left (``u = x / W_in``, ``v = 1 - y / H_in``,
pixel centres at +0.5), 32-bit float EXR written with OpenImageIO. ``undistort`` (plate -> canvas) takes
the plate as input and makes the ``Wo x Ho`` undistorted plate; ``redistort`` (canvas -> plate) takes a
``Wo x Ho`` CG render and makes the plate-sized distorted one.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ..reconstruction import FrameInfo, Reconstruction

MODELS = ("PINHOLE", "SIMPLE_RADIAL", "RADIAL")
UNDISTORT_MAP = "stmap_undistort.exr"
REDISTORT_MAP = "stmap_redistort.exr"
UNDISTORT_SEQUENCE = "stmap_undistort.%04d.exr"  # a zoom's, one per plate frame number
REDISTORT_SEQUENCE = "stmap_redistort.%04d.exr"
LENS_JSON = "lens.json"
_CANVAS_SAMPLES = 16  # a zoom's focals whose overscan is searched (min, max and quantiles between: ~15 ms each)
# plate-edge samples per pixel of the longer side, when searching the overscan
_EDGE_SAMPLES = 2
UNDISTORT_WORKERS = 4  # frames warped and written at once (PNG encoding is single-threaded; OpenImageIO frees the GIL)


@dataclass(frozen=True)
class LensPackage:
    """One lens for the shot, in the plate's original pixels.

    model: COLMAP camera model, one of ``MODELS`` (PINHOLE: no distortion).
    width, height: plate size in pixels. fx, fy, cx, cy: focal lengths and principal point in pixels.
    k1, k2: radial distortion of normalised coordinates (k2 only with RADIAL; 0 otherwise).
    canvas: the overscan canvas ``(Wo, Ho)`` when the shot's frames share one their lenses differ on (a zoom:
    ``ShotLens``); None: this lens's own (``overscan_size``).
    """

    model: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    k1: float = 0.0
    k2: float = 0.0
    canvas: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown lens model {self.model!r} (one of {', '.join(MODELS)})")
        if self.model != "PINHOLE" and self.fx != self.fy:
            raise ValueError(f"{self.model} has one focal length: fx must equal fy")

    def camera(self) -> "pycolmap.Camera":  # noqa: F821 (imported lazily)
        """The pycolmap ``Camera`` of this lens (SIMPLE_RADIAL / RADIAL take one focal length: ``fx``)."""
        import pycolmap

        params = {"PINHOLE": [self.fx, self.fy, self.cx, self.cy],
                  "SIMPLE_RADIAL": [self.fx, self.cx, self.cy, self.k1],
                  "RADIAL": [self.fx, self.cx, self.cy, self.k1, self.k2]}[self.model]
        return pycolmap.Camera(model=self.model, width=self.width, height=self.height, params=params)

    def distort(self, undistorted: np.ndarray) -> np.ndarray:
        """Plate pixels [N, 2] of undistorted pinhole pixels [N, 2] (both in plate coordinates, no overscan)."""
        u = np.asarray(undistorted, np.float64).reshape(-1, 2)
        if self.model == "PINHOLE":
            return u.copy()
        rays = np.c_[(u[:, 0] - self.cx) / self.fx, (u[:, 1] - self.cy) / self.fy, np.ones(len(u))]
        return np.asarray(self.camera().img_from_cam(rays), np.float64)

    def undistort(self, plate: np.ndarray) -> np.ndarray:
        """Undistorted pinhole pixels [N, 2] of plate pixels [N, 2] (inverse of ``distort``); NaN where no ray
        reaches that plate pixel (a strong distortion folds back far from the centre: pycolmap's inversion
        does not converge there)."""
        p = np.asarray(plate, np.float64).reshape(-1, 2)
        if self.model == "PINHOLE":
            return p.copy()
        xy = np.asarray(self.camera().cam_from_img(p), np.float64)
        return np.c_[xy[:, 0] * self.fx + self.cx, xy[:, 1] * self.fy + self.cy]

    def round_trips(self, undistorted: np.ndarray) -> np.ndarray:
        """[N] bool: undistorted pixels [N, 2] inside the lens' invertible range (distorting then undistorting
        them returns them within 1e-3 px); beyond a fold two rays would share a plate pixel."""
        u = np.asarray(undistorted, np.float64).reshape(-1, 2)
        return np.hypot(*(self.undistort(self.distort(u)) - u).T) < 1e-3

    def _edge_undistorted(self) -> np.ndarray:
        """Undistorted pixels [N, 2] of the plate's edges, densely sampled (NaN where not invertible)."""
        w, h = self.width, self.height
        n = _EDGE_SAMPLES * max(w, h) + 1
        t = np.linspace(0.0, 1.0, n)
        return self.undistort(np.concatenate([np.c_[t * w, np.zeros(n)], np.c_[t * w, np.full(n, h)],
                                              np.c_[np.zeros(n), t * h], np.c_[np.full(n, w), t * h]]))

    def invertible(self) -> bool:
        """True when every plate pixel has an undistorted position (False: the solved distortion folds before
        the plate's edge, so the undistort map leaves those pixels out; usually a solve to check)."""
        return bool(np.isfinite(self._edge_undistorted()).all())

    def overscan(self) -> float:
        """The smallest enlargement (>= 1) of the plate, about its centre, that holds every undistorted
        plate pixel (found on the plate's edges, densely sampled; pixels without one are left out)."""
        w, h = self.width, self.height
        u = self._edge_undistorted()
        u = u[np.isfinite(u).all(1)]
        if not len(u):
            return 1.0
        return max(1.0, float(np.max(np.abs(u[:, 0] - w / 2) / (w / 2))), float(np.max(np.abs(u[:, 1] - h / 2) / (h / 2))))

    def overscan_size(self) -> tuple[int, int]:
        """(Wo, Ho): the overscan canvas in pixels: ``canvas`` when given, else ``overscan()`` times the plate
        rounded up to even numbers (so the plate sits on whole pixels in its centre)."""
        if self.canvas is not None:
            return self.canvas
        s = self.overscan()
        return 2 * math.ceil(self.width * s / 2 - 1e-9), 2 * math.ceil(self.height * s / 2 - 1e-9)

    @classmethod
    def from_dict(cls, data: dict) -> "LensPackage":
        """The lens of ``to_dict``'s output (or of ``lens.json``); other keys are ignored."""
        names = ("model", "width", "height", "fx", "fy", "cx", "cy", "k1", "k2")
        canvas = data.get("canvas")
        return cls(**{k: data[k] for k in names if k in data}, canvas=None if canvas is None else tuple(canvas))

    def to_dict(self) -> dict:
        """The JSON description: model, values, plate and overscan sizes, overscan factor, map names."""
        wo, ho = self.overscan_size()
        return {**asdict(self), "canvas": None if self.canvas is None else [wo, ho], "overscan": self.overscan(),
                "overscan_size": [wo, ho], "invertible": self.invertible(),
                "pixel_centres": "+0.5 (COLMAP)", "distortion": "COLMAP radial: 1 + k1 r^2 + k2 r^4",
                "stmaps": {"undistort": UNDISTORT_MAP, "redistort": REDISTORT_MAP}}


def lens_from_reconstruction(recon: Reconstruction, frame: int = 0) -> LensPackage:
    """The lens of ``frame`` (a position in ``recon.frames``): the solved lens's model and that frame's distortion
    (``recon.lens``) with its intrinsics, else (no distortion solved) its pinhole intrinsics (identity ST-maps);
    ``shot_lens`` has every frame's."""
    k = np.asarray(recon.intrinsics[frame], np.float64)
    f = recon.frames[frame]
    lens = recon.lens
    if lens is None or not lens.distorted:
        return LensPackage("PINHOLE", f.width, f.height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    k1, k2 = lens.distortion[frame]
    return LensPackage(lens.model, f.width, f.height, k[0, 0], k[0, 0], k[0, 2], k[1, 2], k1, k2)


@dataclass(frozen=True)
class ShotLens:
    """The shot's lens on its plate frames: one ``LensPackage`` for a fixed lens (``numbers`` empty), or on a
    distorted zoom one per plate frame number of ``numbers`` (ascending), the same model, principal point and
    ``canvas`` with a focal and distortion each. Frames between and beyond them take the focal and distortion
    interpolated linearly between their neighbours (held beyond the ends), as the animated camera's lens keys do."""

    lenses: tuple[LensPackage, ...]
    numbers: tuple[int, ...] = ()

    @property
    def zoom(self) -> bool:
        return bool(self.numbers)

    @property
    def width(self) -> int:
        return self.lenses[0].width

    @property
    def height(self) -> int:
        return self.lenses[0].height

    @property
    def model(self) -> str:
        return self.lenses[0].model

    def overscan_size(self) -> tuple[int, int]:
        """(Wo, Ho): the canvas every frame's undistorted image and render share."""
        return self.lenses[0].overscan_size()

    @classmethod
    def zooming(cls, lenses: Sequence[LensPackage], numbers: Sequence[int]) -> "ShotLens":
        """A zoom through ``lenses`` [F] (one model and principal point; each its own focal and distortion) at the
        ascending plate frame ``numbers`` [F], on the largest canvas any of them needs. The canvas is searched on
        up to ``_CANVAS_SAMPLES`` of them spread over the radial scale ``1 + k1 r^2 + k2 r^4`` at the plate's
        corner (``r`` normalised by each focal): the lower it is, the farther the undistorted plate reaches."""
        f = np.array([lens.fx for lens in lenses])
        k = np.array([(lens.k1, lens.k2) for lens in lenses])
        r2 = ((lenses[0].width / 2) ** 2 + (lenses[0].height / 2) ** 2) / f**2
        order = np.argsort(1 + k[:, 0] * r2 + k[:, 1] * r2**2, kind="stable")
        probe = np.unique(order[np.round(np.linspace(0, len(f) - 1, _CANVAS_SAMPLES)).astype(int)])
        sizes = np.array([replace(lenses[i], canvas=None).overscan_size() for i in probe])
        canvas = (int(sizes[:, 0].max()), int(sizes[:, 1].max()))
        return cls(tuple(replace(lens, canvas=canvas) for lens in lenses), tuple(int(n) for n in numbers))

    @cached_property
    def _values(self) -> np.ndarray:
        """[F, 3] each key's (focal px, k1, k2)."""
        return np.array([(lens.fx, lens.k1, lens.k2) for lens in self.lenses])

    def frames(self) -> list[int]:
        """The plate frames a zoom's ST-maps cover: every frame from its first key to its last, the frames between
        a strided solve's keys too, so the ``%04d`` sequences lens.json names have no holes; [] for a fixed lens."""
        return list(range(self.numbers[0], self.numbers[-1] + 1)) if self.zoom else []

    def at(self, number: int) -> LensPackage:
        """The lens at plate frame ``number``."""
        if not self.zoom:
            return self.lenses[0]
        fx, k1, k2 = (float(np.interp(number, self.numbers, v)) for v in self._values.T)
        return replace(self.lenses[0], fx=fx, fy=fx, k1=k1, k2=k2)

    def to_dict(self) -> dict:
        """``LensPackage.to_dict`` of the first frame's lens; a zoom adds ``focal_per_frame`` (plate frame
        number -> focal px) and ``distortion_per_frame`` (-> [k1, k2]) and names its ST-maps as sequences
        (``stmap_undistort.%04d.exr``)."""
        data = self.lenses[0].to_dict()
        if self.zoom:
            data["focal_per_frame"] = {str(n): lens.fx for n, lens in zip(self.numbers, self.lenses)}
            data["distortion_per_frame"] = {str(n): [lens.k1, lens.k2] for n, lens in zip(self.numbers, self.lenses)}
            data["stmaps"] = {"undistort": UNDISTORT_SEQUENCE, "redistort": REDISTORT_SEQUENCE}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ShotLens":
        """The lens of ``to_dict``'s output (or of ``lens.json``); a ``LensPackage.to_dict`` is a fixed lens (a zoom
        without ``distortion_per_frame``, as lens packages before it wrote, has the first frame's on every frame)."""
        lens = LensPackage.from_dict(data)
        focals = {int(n): float(f) for n, f in (data.get("focal_per_frame") or {}).items()}
        if not focals:
            return cls((lens,))
        dist = {int(n): (float(a), float(b)) for n, (a, b) in (data.get("distortion_per_frame") or {}).items()}
        keys = []
        for n in sorted(focals):
            k1, k2 = dist.get(n, (lens.k1, lens.k2))
            keys.append(replace(lens, fx=focals[n], fy=focals[n], k1=k1, k2=k2))
        return cls(tuple(keys), tuple(sorted(focals)))


def shot_lens(recon: Reconstruction, numbers: Sequence[int]) -> ShotLens:
    """The shot's lens on the plate frame ``numbers`` of ``recon``'s frames: fixed (one lens for the shot, or none
    distorted: a pinhole zoom's ST-maps are the identity whatever its focal), or per frame for a zoom solved with
    distortion (each frame's focal and distortion from ``recon.lens``, ``ShotLens.zooming``)."""
    lens = recon.lens
    if lens is None or lens.shared or not lens.distorted:
        return ShotLens((lens_from_reconstruction(recon),))
    order = np.argsort(np.asarray(numbers), kind="stable")
    return ShotLens.zooming([lens_from_reconstruction(recon, int(i)) for i in order], np.asarray(numbers)[order])


def stmap_names(lens: ShotLens, number: int) -> tuple[str, str]:
    """The (undistort, redistort) ST-map file names of plate frame ``number``: ``stmap_undistort.exr`` for a
    fixed lens, ``stmap_undistort.NNNN.exr`` on a zoom."""
    if not lens.zoom:
        return UNDISTORT_MAP, REDISTORT_MAP
    return UNDISTORT_SEQUENCE % number, REDISTORT_SEQUENCE % number


def _centres(w: int, h: int) -> np.ndarray:
    """[h * w, 2] pixel centres, row by row from the top."""
    x, y = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    return np.c_[x.ravel(), y.ravel()]


def _stmap(src: np.ndarray, src_w: int, src_h: int, w: int, h: int, valid: np.ndarray) -> np.ndarray:
    """[h, w, 2] float32 STMap (u, v) from source pixels ``src`` [h * w, 2] of each output pixel; where not
    ``valid`` [h * w] it points outside the source (u = v = -1: black in an STMap)."""
    uv = np.stack([src[:, 0] / src_w, 1.0 - src[:, 1] / src_h], -1)
    uv[~(valid & np.isfinite(uv).all(1))] = -1.0
    return uv.reshape(h, w, 2).astype(np.float32)


def undistort_stmap(lens: LensPackage) -> np.ndarray:
    """[Ho, Wo, 2] STMap making the undistorted overscan canvas from the plate."""
    wo, ho = lens.overscan_size()
    canvas = _centres(wo, ho) - [(wo - lens.width) / 2, (ho - lens.height) / 2]
    valid = np.ones(len(canvas), bool) if lens.model == "PINHOLE" else lens.round_trips(canvas)
    return _stmap(lens.distort(canvas), lens.width, lens.height, wo, ho, valid)


def redistort_stmap(lens: LensPackage) -> np.ndarray:
    """[H, W, 2] STMap making the distorted plate-sized image from a ``Wo x Ho`` undistorted (CG) render."""
    wo, ho = lens.overscan_size()
    canvas = lens.undistort(_centres(lens.width, lens.height)) + [(wo - lens.width) / 2, (ho - lens.height) / 2]
    return _stmap(canvas, wo, ho, lens.width, lens.height, np.ones(len(canvas), bool))


def write_exr(path: str | Path, uv: np.ndarray) -> None:
    """An [H, W, 2] map as a 32-bit float RGB EXR (R = u, G = v; B = 1 where the map is defined, 0 where it
    points outside: Nuke's STMap reads only R and G, Blender's Map UV takes B as alpha), rows from the top."""
    import OpenImageIO as oiio

    h, w = uv.shape[:2]
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[..., :2] = uv
    rgb[..., 2] = (uv != -1.0).any(-1)
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise OSError(f"cannot write {path}: {oiio.geterror()}")
    spec = oiio.ImageSpec(w, h, 3, oiio.FLOAT)
    spec.attribute("compression", "zip")
    if not out.open(str(path), spec) or not out.write_image(rgb):
        message = out.geterror()
        out.close()
        raise OSError(f"cannot write {path}: {message}")
    out.close()


def write_lens_package(directory: str | Path, lens: LensPackage | ShotLens,
                       numbers: Sequence[int] | None = None) -> list[Path]:
    """``lens.json`` and the two ST-maps in ``directory`` (created); returns the paths written. On a zoom the
    maps are one pair per plate frame of ``numbers`` (default ``ShotLens.frames``: every frame of the zoom's
    span), named ``stmap_names``; a fixed lens has one pair whatever ``numbers`` is."""
    shot = lens if isinstance(lens, ShotLens) else ShotLens((lens,))
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / LENS_JSON).write_text(json.dumps(shot.to_dict(), indent=2) + "\n", encoding="utf-8")
    files = [d / LENS_JSON]
    for n in (shot.frames() if numbers is None else numbers) if shot.zoom else [0]:
        undistort, redistort = stmap_names(shot, n)
        write_exr(d / undistort, undistort_stmap(shot.at(n)))
        write_exr(d / redistort, redistort_stmap(shot.at(n)))
        files += [d / undistort, d / redistort]
    return files


def _image_buf(array: np.ndarray):
    """An OpenImageIO ``ImageBuf`` holding ``array`` [H, W, C] (its own type: uint8, uint16 or float32)."""
    import OpenImageIO as oiio

    fmt = {np.dtype(np.uint8): oiio.UINT8, np.dtype(np.uint16): oiio.UINT16}.get(array.dtype, oiio.FLOAT)
    buf = oiio.ImageBuf(oiio.ImageSpec(array.shape[1], array.shape[0], array.shape[2], fmt))
    buf.set_pixels(oiio.ROI(), np.ascontiguousarray(array))
    return buf


def undistorted_name(frame: FrameInfo, number: int) -> str:
    """The file name ``write_undistorted_plate`` gives ``frame`` at plate frame ``number``:
    ``undistorted.<number:04d>.exr`` for EXR and DPX stills (float, values kept), ``.png`` for other stills
    (their bit depth kept) and video frames (decoded sRGB, 8-bit)."""
    from ..plate.frames import OIIO_EXTENSIONS

    hdr = frame.timestamp is None and Path(frame.source).suffix.lower() in OIIO_EXTENSIONS
    return f"undistorted.{int(number):04d}{'.exr' if hdr else '.png'}"


def write_undistorted_plate(directory: str | Path, frames: Sequence[FrameInfo], lens: LensPackage | ShotLens,
                            numbers: Sequence[int], progress: Callable[[float], None] | None = None,
                            keep_existing: bool = False) -> list[Path]:
    """Each of ``frames`` (``FrameInfo``) undistorted onto the overscan canvas, as
    ``directory/undistorted_name(frame, number)`` for ``numbers`` (the plate frame numbers). Returns the
    paths, in the order of ``frames``.

    Warped with OpenImageIO's ``ImageBufAlgo.st_warp`` and the undistort ST-map (``flip_t``: Nuke's
    bottom-up v) of the frame's lens (``ShotLens.at``: a zoom's map is built per frame, in the pool).
    progress: called with the fraction done (0..1); an exception it raises (a cancel) stops the writing.
    keep_existing: frames whose file already exists are not written again (a folder named after the lens and
    the plate, ``convert.undistorted``, holds the same pixels).
    """
    import OpenImageIO as oiio

    from ..errors import InputError
    from ..plate.frames import iter_frames

    shot = lens if isinstance(lens, ShotLens) else ShotLens((lens,))
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / undistorted_name(f, n) for f, n in zip(frames, numbers)]
    todo = [i for i, p in enumerate(paths) if not (keep_existing and p.is_file())]
    if not todo:  # an import after its run: no map to build (seconds at 4K)
        return paths
    fixed = None if shot.zoom else _image_buf(undistort_stmap(shot.at(0)))
    done = len(frames) - len(todo)

    def warp(src, i: int) -> None:  # in a pool thread: OpenImageIO works without the GIL
        st = fixed if fixed is not None else _image_buf(undistort_stmap(shot.at(numbers[i])))
        # the ST-map's window with all of the plate's channels (st.roi alone has the map's 2: blue was lost)
        roi = oiio.ROI(st.roi.xbegin, st.roi.xend, st.roi.ybegin, st.roi.yend, 0, 1, 0, src.nchannels)
        out = oiio.ImageBufAlgo.st_warp(src, st, filtername="catmull-rom", flip_t=True, roi=roi)
        if out.has_error:
            raise InputError(f"cannot undistort frame {numbers[i]}: {out.geterror()}")
        part = paths[i].with_name(paths[i].name + ".part")  # never a half-written frame under the real name
        if not out.write(str(part), fileformat=paths[i].suffix[1:]):
            raise OSError(f"cannot write {paths[i]}: {out.geterror()}")
        os.replace(part, paths[i])

    pending: list = []

    def settle(limit: int) -> None:
        """Wait for the oldest frames until at most ``limit`` are in flight (memory), reporting each."""
        nonlocal done
        while len(pending) > limit:
            pending.pop(0).result()
            done += 1
            if progress is not None:
                progress(done / len(frames))

    workers = min(UNDISTORT_WORKERS, os.cpu_count() or 1)
    videos = [i for i in todo if frames[i].timestamp is not None]
    # leaving the pool waits for the frames being written, so a cancel or an error leaves no .part file behind
    with ThreadPoolExecutor(workers) as pool:
        try:
            for i in (i for i in todo if frames[i].timestamp is None):
                src = oiio.ImageBuf(frames[i].source)
                if src.has_error or (src.spec().width, src.spec().height) != (shot.width, shot.height):
                    raise InputError(f"cannot undistort {frames[i].source}: not a {shot.width}x{shot.height} image")
                pending.append(pool.submit(warp, src, i))
                settle(workers)
            for pos, pixels in iter_frames([frames[i] for i in videos]):  # decoded in order, warped in the pool
                pending.append(pool.submit(warp, _image_buf(pixels), videos[pos]))
                settle(workers)
            settle(0)
        except BaseException:
            for job in pending:
                job.cancel()
            raise
    return paths


def export_lens(directory: str | Path, recon: Reconstruction, numbers: Sequence[int], plate: bool = False,
                progress: Callable[[float], None] | None = None) -> tuple[dict, list[Path]]:
    """The shot's lens package (``shot_lens``) in ``directory``: ``lens.json`` and the ST-maps (per frame on a
    distorted zoom), and with ``plate`` the undistorted plate (``directory/undistorted/``), on the plate frame
    ``numbers`` of ``recon``'s frames. Returns the JSON's content (for ``summary.json``) and the paths written."""
    lens = shot_lens(recon, numbers)
    files = write_lens_package(directory, lens)
    if plate:
        files += write_undistorted_plate(Path(directory) / "undistorted", recon.frames, lens, numbers, progress)
    return lens.to_dict(), files
