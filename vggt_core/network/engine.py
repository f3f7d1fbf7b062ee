"""Inference engine: device/precision choice, lazy model loading, progress, cancellation and OOM handling."""
from __future__ import annotations

import gc
import math
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import Cancelled, InputError, OutOfMemoryError, VGGTError

if TYPE_CHECKING:
    import torch

    from .models.vggt import VGGT

Progress = Callable[[str, float], None]
Cancel = Callable[[], bool]

_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}


class DeviceError(VGGTError):
    """The requested device does not exist or this PyTorch build cannot use it."""


def pick_device(device: str = "auto") -> "torch.device":
    """"auto" -> cuda if available, else mps, else cpu; anything else must name a usable device
    ("cpu", "cuda", "cuda:N", "mps"), else DeviceError (one line)."""
    import torch

    if device != "auto":
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise DeviceError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
        if dev.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU/driver found"
                raise DeviceError(f"device {device!r} is not available ({why}): use device auto or cpu")
            if dev.index is not None and dev.index >= count:
                raise DeviceError(f"device {device!r} does not exist ({count} CUDA device(s)): use cuda:0..cuda:{count - 1}")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"device {device!r} is not available on this machine: use device auto or cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(dtype: str, device: "torch.device") -> "torch.dtype":
    """Compute precision: "auto" = bf16 on CUDA capability >= 8, fp16 on older CUDA, fp16 on MPS
    (Apple GPUs; where this PyTorch has MPS autocast, else fp32), fp32 elsewhere."""
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            major, _ = torch.cuda.get_device_capability(device)
            return torch.bfloat16 if major >= 8 else torch.float16
        if device.type == "mps":
            # fp16, as the original VGGT on GPUs without bf16: Apple GPUs run it natively, while bf16
            # needs macOS 14 and is emulated on M1/M2. Autocast on MPS arrived in torch 2.5.
            available = getattr(torch.amp, "is_autocast_available", None)
            return torch.float16 if available is not None and available("mps") else torch.float32
        return torch.float32
    if dtype not in _DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; use auto, fp32, bf16 or fp16")
    return getattr(torch, _DTYPES[dtype])


def precision_context(device: "torch.device", dtype: "torch.dtype") -> Any:
    """The autocast context `Engine.predict` runs the model in (a no-op for fp32).

    The model itself switches autocast off around the camera/depth/point heads.
    """
    import torch

    if dtype != torch.float32 and device.type in ("cuda", "cpu", "mps"):
        return torch.autocast(device.type, dtype=dtype)
    return nullcontext()


def cast_matmul_weights_(module: "torch.nn.Module", dtype: "torch.dtype") -> "torch.nn.Module":
    """Store the weight and bias of every nn.Linear / nn.Conv2d under `module` in `dtype`, in place.

    Only for modules that always run under autocast of `dtype` (the aggregator): autocast casts
    these layers' fp32 weights to `dtype` on every call anyway, so results are bit-identical while
    the weights take half the memory (VGGT-1B's aggregator: 3.6 GB -> 1.8 GB) and the per-call
    weight casts disappear. LayerNorm, LayerScale and the learned tokens stay fp32.
    """
    import torch

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
            layer.to(dtype)
    return module


class Engine:
    """Runs VGGT on a sequence of frames and returns numpy arrays.

    The model is loaded on first use (from `source`, see vggt_core.network.weights) and kept until
    `unload()`. Lower precision is applied with autocast to the aggregator and track head only
    (camera/depth/point heads always compute in fp32, as in the released model); under bf16/fp16
    the aggregator's matmul weights are stored in that dtype (`cast_matmul_weights_`) and the
    aggregator layers the heads read are kept in it.
    """

    def __init__(
        self,
        source: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        token: str | None = None,
        dense_chunk: int | None = None,
    ) -> None:
        """dense_chunk: frames per depth/point-head chunk; None = 1 on CPU (lowest peak RAM, no slower
        there), 8 elsewhere (the original's value). Results agree to float32 rounding either way."""
        from .weights import resolve_source

        self.source = resolve_source(source)
        self.token = token
        self._device_arg = device
        self._dtype_arg = dtype
        self._dense_chunk = dense_chunk
        self._model: "VGGT | None" = None

    @classmethod
    def from_model(
        cls, model: "VGGT", device: str = "auto", dtype: str = "auto", dense_chunk: int | None = None
    ) -> "Engine":
        """Wrap an already built model (e.g. a tiny test model); `model_id` becomes "<in-memory>".

        The engine takes the model over: it is moved to the device and, under bf16/fp16, its
        aggregator's matmul weights are cast (see the class docstring). Pass a copy to keep yours.
        """
        engine = cls.__new__(cls)
        engine.source = "<in-memory>"
        engine.token = None
        engine._device_arg = device
        engine._dtype_arg = dtype
        engine._dense_chunk = dense_chunk
        engine._model = engine._prepare(model)
        return engine

    def _prepare(self, model: "VGGT") -> "VGGT":
        """Eval mode on `device`, aggregator matmul weights in the compute dtype under autocast."""
        import torch

        model = model.eval().to(self.device)
        if self.dtype != torch.float32:
            cast_matmul_weights_(model.aggregator, self.dtype)
        return model

    @property
    def model_id(self) -> str:
        """The weights source: HF repo id, file path, or "<in-memory>"."""
        return self.source

    @property
    def device(self) -> "torch.device":
        return pick_device(self._device_arg)

    @property
    def dtype(self) -> "torch.dtype":
        return pick_dtype(self._dtype_arg, self.device)

    @property
    def dense_chunk(self) -> int:
        """Frames per depth/point-head chunk (see __init__)."""
        if self._dense_chunk is not None:
            return self._dense_chunk
        return 1 if self.device.type == "cpu" else 8

    @property
    def numerics(self) -> dict[str, str]:
        """What besides the weights changes the outputs: the resolved device type and compute dtype
        (e.g. {"device": "cuda", "dtype": "bfloat16"}); part of the result cache key."""
        return {"device": self.device.type, "dtype": str(self.dtype).removeprefix("torch.")}

    @property
    def model(self) -> "VGGT":
        """The model, loaded on first access and moved to `device`."""
        return self.load()

    def load(self, progress: Progress | None = None, cancel: Cancel | None = None) -> "VGGT":
        """Load the model now unless it is loaded; see `weights.load_model` for progress/cancel."""
        if self._model is None:
            from .weights import load_model

            self.device  # an unusable device fails here, before gigabytes of weights load
            self._model = self._prepare(load_model(self.source, token=self.token, progress=progress, cancel=cancel))
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def unload(self) -> None:
        """Free the model (and cached GPU memory)."""
        if self._model is None:  # nothing to free; the device may not even exist (DeviceError)
            return
        self._model = None
        _free_memory(self.device)

    def predict(
        self,
        images: Any,
        query_points: Any = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
        query_frames: Any = None,
    ) -> dict[str, np.ndarray]:
        """Run the model on one sequence.

        images: [S, 3, H, W] float32 in [0, 1] (numpy or torch), H and W multiples of 14.
        query_points: optional [N, 2] (x, y) continuous model pixels to track (pixel centres at ``i + 0.5``, the
            ``Reconstruction`` convention), on frame 0 or on ``query_frames``.
        query_frames: optional [N] int, the frame each query point lies on (the aggregator still runs once).
        progress(stage, fraction): stage in "aggregator", "camera", "depth", "points", "tracks";
            fractions rise to 1.0 within each stage.
        cancel(): polled after every transformer block / head chunk / query frame; True raises Cancelled.
        Returns float32 arrays: pose_enc [S,9] (raw), extrinsic [S,3,4] (camera-from-world), intrinsic
        [S,3,3] (model pixels, principal point at the centre, fov bounded below by MIN_FOV), depth [S,H,W], depth_conf [S,H,W],
        world_points [S,H,W,3], world_points_conf [S,H,W], and with queries track [S,N,2] (continuous model
        pixels, like the queries), vis [S,N], conf [S,N].

        The track head itself puts pixel centres at integer coordinates (``TRACK_HEAD_SHIFT``); queries go in and
        tracks come out shifted here, so nothing outside the engine sees the head's convention.
        """
        import torch

        from ..geometry import pose_encoding_to_extri_intri

        images_t = _as_tensor(images, "images")
        if images_t.ndim != 4:
            raise InputError(f"images must be [S,3,H,W], got shape {tuple(images_t.shape)}")
        queries_t = None if query_points is None else _as_tensor(query_points, "query_points") - TRACK_HEAD_SHIFT
        model = self.model
        device, dtype = self.device, self.dtype
        last: dict[str, float] = {}

        def callback(stage: str, done: int, total: int) -> None:
            if cancel is not None and cancel():
                raise Cancelled("reconstruction cancelled")
            if progress is not None:
                fraction = min(1.0, done / total)
                if fraction >= last.get(stage, -1.0):
                    last[stage] = fraction
                    progress(stage, fraction)

        if cancel is not None and cancel():
            raise Cancelled("reconstruction cancelled")
        failure: str | None = None
        try:
            with torch.inference_mode(), precision_context(device, dtype):
                x = images_t.to(device=device, dtype=torch.float32)
                q = None if queries_t is None else queries_t.to(device=device, dtype=torch.float32)
                out = model(x, q, callback=callback, frames_chunk_size=self.dense_chunk, query_frames=query_frames)
                result = {k: out[k][0].float().cpu().numpy() for k in _OUTPUT_KEYS if k in out}
                del out, x, q
        except Cancelled:
            failure = "cancelled"
        except torch.cuda.OutOfMemoryError:
            failure = "oom"
        except RuntimeError as exc:  # MPS and some CUDA paths report OOM as a plain RuntimeError
            if "out of memory" not in str(exc).lower():
                raise
            failure = "oom"
        # Raised outside the except blocks so the failed call's frames (and tensors) are released first.
        if failure is not None:
            _free_memory(device)
            if failure == "cancelled":
                raise Cancelled("reconstruction cancelled")
            raise OutOfMemoryError(self._oom_message(tuple(images_t.shape)))
        H, W = images_t.shape[-2:]
        extrinsic, intrinsic = pose_encoding_to_extri_intri(result["pose_enc"], (H, W), min_fov=MIN_FOV)
        result["extrinsic"], result["intrinsic"] = extrinsic.astype(np.float32), intrinsic.astype(np.float32)
        result["depth"] = result["depth"][..., 0]
        if "track" in result:
            result["track"] += TRACK_HEAD_SHIFT
        if device.type == "cuda":  # a full gc.collect() would cost ~0.25 s per call; nothing cyclic is left
            torch.cuda.empty_cache()
        return result

    def _oom_message(self, shape: tuple[int, ...]) -> str:
        import torch

        S, _, H, W = shape
        hint = ""
        if self.device.type == "cuda":
            try:
                free, _total = torch.cuda.mem_get_info(self.device)
                value_bytes = 4 if self.dtype == torch.float32 else 2
                fits = estimate_max_frames(free, H, W, self.model.config.embed_dim,
                                           len(self.model.needed_layers(True)), value_bytes, self.dense_chunk)
                hint = f" (about {fits} frames at {W}x{H} would fit)" if fits < S else ""
            except Exception:  # noqa: BLE001 - the estimate is only a hint
                hint = ""
        return f"out of GPU memory for {S} frames at {W}x{H}{hint}; use fewer frames or a lower resolution"


# The track head's pixel convention, from the original's training data and sampler: pixel (i, j) has its centre
# at (i, j) (``grid_sample(..., align_corners=True)`` reads feature cell c at input pixel ``c * stride``, and the
# training intrinsics keep OpenCV's integer centres: ``resize_image_depth_and_intrinsic(pixel_center=True)``),
# while the Reconstruction puts it at (i + 0.5, j + 0.5). A head coordinate plus this is a continuous one.
TRACK_HEAD_SHIFT = 0.5

# 0.01 rad (focal ~ 200x the image width): bounds the ReLU'd fov away from 0 so cameras stay finite.
MIN_FOV = 0.01

_OUTPUT_KEYS = ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf")


def available_memory(device: Any, meminfo: str = "/proc/meminfo") -> int | None:
    """Bytes a run on ``device`` (a ``torch.device``) can still allocate, or None where it cannot be told.

    CUDA: the driver's free memory; MPS: Metal's recommended working set less what the driver holds; CPU: the
    kernel's ``MemAvailable`` (free memory plus what the page cache and reclaimable slabs give back, which is
    what a new allocation can use; ``MemFree`` alone undercounts it several times on a machine that has read
    files), else psutil's ``available`` where psutil is installed (macOS, Windows).
    """
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    if device.type != "cpu":
        return None
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def estimate_max_frames(
    free_bytes: int, H: int, W: int, embed_dim: int = 1024, kept_layers: int = 4, value_bytes: int = 2,
    dense_chunk: int = 8,
) -> int:
    """Rough number of frames whose activations fit in `free_bytes` (weights already resident).

    Per token: the kept layer outputs (2*embed values, `value_bytes` each: 2 under bf16/fp16
    autocast, 4 in fp32) and ~14*embed bytes for the running block (fp32 residual in and out, q, k,
    v and attention output in the compute dtype). Per pixel and frame: the input image and the dense
    outputs kept until the end (9 fp32 values). Once, for the `dense_chunk` frames the depth and point
    heads process at a time: ~1 KB per pixel of full-resolution maps. Conservative against the traced
    model (bench/results/memory_model_full_bf16_294x518.md: 62 frames estimated where 100 were modelled
    to fit, 352 for 500).
    """
    tokens = (H // 14) * (W // 14) + 5
    per_frame = tokens * (kept_layers * 2 * embed_dim * value_bytes + 14 * embed_dim) + H * W * 36
    heads = dense_chunk * H * W * 1024
    return max(0, int(math.floor((free_bytes - heads) / per_frame)))


def _as_tensor(x: Any, name: str) -> "torch.Tensor":
    import torch

    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.from_numpy(np.ascontiguousarray(x))
    except TypeError as exc:
        raise InputError(f"{name} must be a numpy array or torch tensor of floats") from exc


def _free_memory(device: "torch.device") -> None:
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()
