"""Run a reconstruction off the main thread. Never touches bpy (bpy is not thread-safe).

The worker posts messages to a ``queue.Queue``:

* ``("progress", stage: str, fraction: float in [0, 1])``
* ``("done", recon: Reconstruction, cache_path: str | None)``
* ``("cancelled", message: str)``
* ``("error", message: str)`` (one line)

The model is loaded once and kept in a module-level holder between runs (keyed by weights source,
device and dtype), until ``unload_engine()`` or a run with a different key. A run whose result, or
whose network output (then only re-solved), is cached returns without loading the model; otherwise the
model is downloaded if needed (stage "Downloading model", with its fraction, cancellable) and loaded
(stage "Loading model") before frames are read. Settings the frames cannot take fail before either.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable

from vggt_core import Cancelled, VGGTError, WeightsError, one_line
from vggt_core.network import is_local_source  # torch-free at import

Post = Callable[[tuple], None]

CANCEL_GRACE_S = 1.0  # after cancel(), stop waiting for the thread after this long (it exits at its next check)


@dataclass(frozen=True)
class EngineSpec:
    """Which weights to run, where, and whether a download may happen.

    source: HF repo id ("facebook/VGGT-1B"), or a local .safetensors/.pt/.pth file.
    device: "auto" | "cuda" | "mps" | "cpu".
    dtype: "auto" | "bf16" | "fp16" | "fp32".
    token: Hugging Face token for gated repos (never part of the cache key's repr).
    allow_online: ``bpy.app.online_access`` at the time the run was started.
    """

    source: str
    device: str = "auto"
    dtype: str = "auto"
    token: str | None = None
    allow_online: bool = True

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.device, self.dtype)

    def __repr__(self) -> str:  # keep the token out of logs
        return f"EngineSpec(source={self.source!r}, device={self.device!r}, dtype={self.dtype!r})"


@dataclass(frozen=True)
class Job:
    """One reconstruction: ``reconstruct(inputs, settings, engine, cache_dir=cache_dir)``.

    inputs: image folder, video file, or a tuple of image files.
    settings: a ``vggt_core.run.pipeline.ReconstructSettings``.
    cache_dir: folder for the pipeline's result cache (same frames + weights + settings load
        instantly next time; other solve settings only re-solve), or None for no cache.
    frames: the ``FrameInfo``s to use as they are, instead of listing ``inputs`` (a re-solve of an import).
    network: False to re-solve only, from the network output in ``cache_dir``: the model never loads,
        and a missing network output is an error.
    masks: per reconstructed frame a plate-resolution [H, W] bool mask (True = keep out), rasterised on the
        main thread (``runs.scene_masks``; ``settings.mask`` names their digest), or None.
    import_as: (``ImportSettings``, the scene's first frame) of the import that follows, or None: the run's
        ``settings.frame_numbers`` (the solve report's) become the frames that import keys the camera on
        (``convert.import_timeline``), and after the run the undistorted plate it will show is written (stage
        "Undistorting plate", ``convert.undistorted``).
    """

    inputs: str | tuple[str, ...]
    settings: Any
    engine: EngineSpec
    cache_dir: str | None = None
    frames: tuple[Any, ...] | None = None
    network: bool = True
    masks: tuple | None = None
    import_as: tuple | None = None


_engine: Any = None
_engine_key: tuple[str, str, str] | None = None
_engine_lock = threading.Lock()  # guards the holder; also serialises runs (one model, one job)
_current: "Worker | None" = None
_run_lock = threading.Lock()  # held by a Worker thread for its whole run
_unload_after_run = False  # set by unload_when_idle() during a run; the Worker honours it as it ends


def offline_source(source: str) -> str:
    """Resolve a repo id to its locally cached weights file without any network access.

    Raises WeightsError telling the user to allow online access when nothing is cached.
    """
    hint = ("allow online access in Preferences > System > Network (or start Blender with --online-mode), "
            "or choose a local checkpoint file")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(source, local_files_only=True)
    except Exception:
        raise WeightsError(f"Weights '{source}' are not downloaded yet and online access is disabled: {hint}") from None
    names = sorted(os.listdir(folder))
    for suffix in (".safetensors", ".pt", ".pth"):
        for name in names:
            if name.endswith(suffix):
                return os.path.join(folder, name)
    raise WeightsError(f"The cached copy of '{source}' holds no weights file: {hint}")


def get_engine(spec: EngineSpec) -> Any:
    """The shared Engine for ``spec`` (dropping any other one); its model may not be loaded yet."""
    global _engine, _engine_key
    with _engine_lock:
        if _engine is not None and _engine_key == spec.key:
            return _engine
        if _engine is not None:
            _engine.unload()
            _engine, _engine_key = None, None
        try:
            import torch  # noqa: F401  (only ever imported here, in the worker, never at enable time)
        except ImportError:
            raise VGGTError("PyTorch is not installed: click Install Dependencies in Preferences > Add-ons > "
                            "VGGT Reconstruct") from None
        source = spec.source
        if not spec.allow_online and not is_local_source(source):
            source = offline_source(source)
        from vggt_core import Engine

        _engine = Engine(source=source, device=spec.device, dtype=spec.dtype, token=spec.token)
        _engine_key = spec.key
        return _engine


_LOAD_STAGES = {"download": "Downloading model", "load": "Loading model"}


def load_engine(engine: Any, progress: Callable[[str, float], None], cancel: Callable[[], bool] | None) -> None:
    """Download (if needed) and load ``engine``'s model, reporting "Downloading model" / "Loading model"."""
    with _engine_lock:
        if not engine.loaded:
            engine.load(progress=lambda stage, f: progress(_LOAD_STAGES.get(stage, stage), f), cancel=cancel)


def unload_engine() -> bool:
    """Free the shared model (and its GPU memory). Returns True when one was loaded."""
    global _engine, _engine_key
    with _engine_lock:
        if _engine is None:
            return False
        _engine.unload()
        _engine, _engine_key = None, None
    return True


def unload_when_idle() -> None:
    """Free the model now, or, while a Worker runs, as soon as it ends (disabling the extension
    mid-run). Never blocks: a model still loading holds ``_engine_lock``."""
    global _unload_after_run
    _unload_after_run = True
    if _run_lock.acquire(blocking=False):
        try:
            _unload_after_run = False
            unload_engine()
        finally:
            _run_lock.release()


def loaded_model() -> str | None:
    """Weights source of the loaded model, or None."""
    engine = _engine
    return None if engine is None or not engine.loaded else _engine_key[0]


def run_job(job: Job, post: Post, cancel: Callable[[], bool] | None = None) -> None:
    """Run ``job`` in the calling thread, posting progress and exactly one final message."""
    def progress(stage: str, fraction: float) -> None:
        post(("progress", stage, min(1.0, max(0.0, float(fraction)))))

    try:
        from vggt_core import list_frames
        from vggt_core.run import cache_path, check_frames, needs_network, reconstruct_frames

        # Cheap: bad inputs, and settings these frames cannot take, fail before a model loads.
        infos = list(job.frames) if job.frames is not None else list_frames(job.inputs, job.settings.selection)
        settings = job.settings
        if job.import_as is not None:
            from ..convert import import_timeline

            _, timeline = import_timeline(infos, *job.import_as)
            settings = replace(settings, frame_numbers=timeline.tolist())
        check_frames(infos, settings)
        engine = get_engine(job.engine)
        if job.cache_dir:
            progress("Checking cache", 0.0)  # hashes a local checkpoint the first time (seconds)
        if job.network and needs_network(job.cache_dir, infos, engine, settings):  # a hit never loads the model
            load_engine(engine, progress, cancel)  # weights problems surface before any frame is read
            if cancel is not None and cancel():
                raise Cancelled("Cancelled")
        recon = reconstruct_frames(infos, settings, engine, progress=progress, cancel=cancel,
                                   cache_dir=job.cache_dir, network=job.network, masks=job.masks)
        if job.import_as is not None:
            _undistort(recon, *job.import_as, progress, cancel)
        path = cache_path(job.cache_dir, infos, engine, settings) if job.cache_dir else None
        post(("done", recon, str(path) if path is not None and path.is_file() else None))
    except Cancelled as err:
        post(("cancelled", one_line(err)))
    except VGGTError as err:
        post(("error", one_line(err)))
    except MemoryError:
        post(("error", "Out of memory: use fewer frames (Max Frames) or a larger stride"))
    except Exception as err:  # a bug: keep Blender alive, show one line, print the traceback
        traceback.print_exc(file=sys.stderr)
        post(("error", f"Internal error ({type(err).__name__}): {one_line(err)}; see the system console"))


def _undistort(recon: Any, settings: Any, scene_frame_start: int, progress: Callable[[str, float], None],
               cancel: Callable[[], bool] | None) -> None:
    """Write the undistorted plate the import of ``recon`` with ``settings`` will show (if any)."""
    from ..convert import undistorted_plate

    und = undistorted_plate(recon, settings, scene_frame_start, settings.undistorted_dir)
    if und is None:
        return

    def step(fraction: float) -> None:
        if cancel is not None and cancel():
            raise Cancelled("Cancelled")
        progress("Undistorting plate", fraction)

    step(0.0)
    und.write(step)


class Worker(threading.Thread):
    """A daemon thread running one Job; read ``queue`` on the main thread, set ``cancel_event`` to stop."""

    def __init__(self, job: Job) -> None:
        super().__init__(name="vggt-worker", daemon=True)
        self.job = job
        self.queue: queue.Queue = queue.Queue()
        self.cancel_event = threading.Event()
        self._cancel_time: float | None = None

    def run(self) -> None:
        global _unload_after_run
        with _run_lock:
            run_job(self.job, self.queue.put, self.cancel_event.is_set)
        if _unload_after_run:  # read after the release: see unload_when_idle
            _unload_after_run = False
            unload_engine()

    def cancel(self) -> None:
        if self._cancel_time is None:
            self._cancel_time = time.monotonic()
        self.cancel_event.set()

    def poll(self) -> tuple[tuple[str, float] | None, tuple | None]:
        """Drain the queue on the main thread (one GUI timer tick); never blocks.

        Returns (latest progress as (stage, fraction) or None, final message or None). After
        ``cancel()`` the final message is ``("cancelled", ...)``: as soon as the thread stops, or at the
        latest CANCEL_GRACE_S seconds after the request even if it is still inside a long block (its
        eventual result is then dropped), so a Cancel takes effect within a second.
        """
        latest, final = None, None
        while True:
            try:
                msg = self.queue.get_nowait()
            except queue.Empty:
                break
            if msg[0] == "progress":
                latest = (msg[1], msg[2])
            else:
                final = msg
        if self.cancel_event.is_set():
            waited = time.monotonic() - self._cancel_time
            if (final is None and waited > CANCEL_GRACE_S) or (final is not None and final[0] == "done"):
                final = ("cancelled", "Cancelled")
        return latest, final


def start(job: Job) -> Worker:
    """Start a Worker for ``job`` and make it the current one. Raises RuntimeError if one is running."""
    global _current
    if is_busy():
        raise RuntimeError("A VGGT reconstruction is already running")
    _current = Worker(job)
    _current.start()
    return _current


def current() -> Worker | None:
    """The most recently started Worker (running or finished), or None."""
    return _current


def is_busy() -> bool:
    """True while a worker thread is alive (a second run must not start)."""
    return _current is not None and _current.is_alive()


def cancel_current() -> bool:
    """Ask the running worker to stop; returns False when nothing is running."""
    if not is_busy():
        return False
    _current.cancel()
    return True


def run_sync(job: Job, on_progress: Callable[[str, float], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> tuple:
    """Run ``job`` in the calling thread (background mode, CLI) and return its final message."""
    final: list[tuple] = []

    def post(msg: tuple) -> None:
        if msg[0] == "progress":
            if on_progress:
                on_progress(msg[1], msg[2])
        else:
            final.append(msg)

    run_job(job, post, cancel)
    return final[-1]
