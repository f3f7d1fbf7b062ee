"""Finding and loading VGGT checkpoints: Hugging Face repos, local .safetensors and .pt/.pth files.

Every failure a user can hit becomes a one-line `WeightsError` that says what to do next.
Models are built on the meta device and the loaded tensors are assigned in place, so a 5 GB
checkpoint needs about 5 GB of RAM, not 10.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import Cancelled, WeightsError, one_line

if TYPE_CHECKING:
    import torch

    from .models.vggt import VGGT, VGGTConfig

DEFAULT_REPO = "facebook/VGGT-1B"
CONFIG_METADATA_KEY = "vggt_config"
_LOCAL_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
# Files tried, in order, per repo; other repos use model.safetensors.
_REPO_FILES = {"facebook/VGGT-1B-Commercial": ("model.safetensors", "vggt_1B_commercial.pt")}

Progress = Callable[[str, float], None]  # (stage, fraction 0..1): "download" (bytes), "load" (tensors read)
Cancel = Callable[[], bool]


def resolve_source(arg: str | None) -> str:
    """The weights source to use: `arg`, else $VGGT_WEIGHTS, else "facebook/VGGT-1B"."""
    return arg or os.environ.get("VGGT_WEIGHTS") or DEFAULT_REPO


def is_local_source(source: str) -> bool:
    """True for existing paths and anything that looks like a file path rather than "owner/name"."""
    p = Path(source).expanduser()
    return p.exists() or p.suffix.lower() in _LOCAL_SUFFIXES or source.startswith((".", "/", "~")) or source.count("/") != 1


def normalize_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """The one place checkpoint keys are adapted to our module names.

    Unwraps {"model": ...} / {"state_dict": ...} containers and strips a "module." prefix left
    by DistributedDataParallel; our attribute names otherwise equal the released checkpoint's.
    """
    for wrapper in ("model", "state_dict"):
        if wrapper in state and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    out = {}
    for key, value in state.items():
        out[key[len("module.") :] if key.startswith("module.") else key] = value
    return out


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_error(repo: str, err: Exception) -> WeightsError:
    from huggingface_hub import errors as hf

    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, hf.GatedRepoError) or status in (401, 403):
        return WeightsError(
            f"access to {repo} must be requested on its model page (https://huggingface.co/{repo}) "
            "and a token given via HF_TOKEN or --token"
        )
    if isinstance(err, hf.RepositoryNotFoundError) or status == 404:
        return WeightsError(f"model repo {repo} was not found on Hugging Face; check the name or pass --weights PATH")
    if isinstance(err, (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled, ConnectionError, TimeoutError)):
        return WeightsError(
            f"weights for {repo} are not cached and the Hugging Face hub cannot be reached; download them on a "
            f"connected machine (`hf download {repo}`) or pass --weights PATH / set VGGT_WEIGHTS to a local checkpoint"
        )
    return WeightsError(f"could not download weights for {repo}: {type(err).__name__}: {one_line(err)}")


def download_from_hub(
    repo: str, token: str | None = None, progress: Progress | None = None, cancel: Cancel | None = None
) -> tuple[Path, Path | None]:
    """Download (or find in the cache) the checkpoint of `repo` -> (checkpoint path, config.json or None).

    A copy already in the Hugging Face cache is used without touching the network (fast, and works
    offline); otherwise it is downloaded, unless HF_HUB_OFFLINE is set. Raises WeightsError with an
    actionable message.
    progress("download", fraction): bytes received, only when a download happens.
    cancel(): polled every 0.1 s during a download; True raises Cancelled at once. The transfer then
        stops at its next chunk (huggingface_hub keeps the partial file and resumes it next time).
    """
    try:
        from huggingface_hub import errors as hf
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise WeightsError("huggingface_hub is not installed; pass --weights PATH to a local checkpoint") from exc
    try:
        return _fetch(repo, token, local_only=True)
    except hf.LocalEntryNotFoundError as err:
        if _offline():
            raise _hub_error(repo, err) from err
    if progress is None and cancel is None:
        return _fetch(repo, token, local_only=False)
    stop = threading.Event()
    return _abandonable(lambda: _fetch(repo, token, False, _reporting_tqdm(progress, stop)), cancel, stop)


def locate(source: str) -> tuple[Path, Path | None] | None:
    """The local checkpoint file of `source` and its config.json (or None), without any network access.

    None when a local file is missing or a Hugging Face repo is not in the cache yet.
    """
    if is_local_source(source):
        path = _checkpoint_file(Path(source).expanduser())
        if not path.is_file():
            return None
        sibling = path.with_name("config.json")
        return path, sibling if sibling.is_file() else None
    try:
        from huggingface_hub import errors as hf
    except ImportError:  # pragma: no cover - dependency of the package
        return None
    try:
        return _fetch(source, None, local_only=True)
    except (hf.LocalEntryNotFoundError, WeightsError):
        return None


def _reporting_tqdm(progress: Progress | None, stop: threading.Event) -> type:
    """A tqdm class for huggingface_hub that reports the largest fraction done of any of its bars and
    raises Cancelled on the next update once `stop` is set (which ends an HTTP transfer)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    best = [0.0]

    class ReportingTqdm(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._done = kwargs.get("initial", 0) or 0  # counted here: a disabled tqdm does not count

        def update(self, n: float | None = 1) -> bool | None:
            if stop.is_set():
                raise Cancelled("download cancelled")
            self._done += n or 0
            total = self.total or 0
            if progress is not None and total > 0 and self._done / total > best[0]:
                best[0] = min(1.0, self._done / total)
                progress("download", best[0])
            return super().update(n)

    return ReportingTqdm


def _abandonable(fn: Callable[[], Any], cancel: Cancel | None, stop: threading.Event) -> Any:
    """Run `fn` in a daemon thread; return its result or raise its exception. When cancel() turns True,
    set `stop` and raise Cancelled without waiting (the thread ends at its next progress update)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            failure.append(err)

    thread = threading.Thread(target=target, name="vggt-download", daemon=True)
    thread.start()
    while thread.is_alive():
        if cancel is not None and cancel():
            stop.set()
            raise Cancelled("download cancelled")
        thread.join(0.1)
    if failure:
        raise failure[0]
    return result[0]


def _fetch(repo: str, token: str | None, local_only: bool, tqdm_class: type | None = None) -> tuple[Path, Path | None]:
    """One pass over the repo's candidate checkpoint names; cache misses in local_only mode propagate."""
    from huggingface_hub import errors as hf
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {"token": token, "local_files_only": local_only}
    if tqdm_class is not None:
        kwargs["tqdm_class"] = tqdm_class
    last: Exception | None = None
    checkpoint = None
    for filename in _REPO_FILES.get(repo, ("model.safetensors",)):
        try:
            checkpoint = Path(hf_hub_download(repo, filename, **kwargs))
            break
        except (hf.EntryNotFoundError, hf.RemoteEntryNotFoundError, hf.LocalEntryNotFoundError) as err:
            last = err  # try the next file name
        except Cancelled:
            raise
        except Exception as err:  # noqa: BLE001 - mapped to one actionable line
            raise _hub_error(repo, err) from err
    if checkpoint is None:
        assert last is not None
        if isinstance(last, hf.LocalEntryNotFoundError):
            if local_only:
                raise last
            raise _hub_error(repo, last) from last
        raise WeightsError(f"{repo} has no VGGT checkpoint file; pass --weights PATH to a local checkpoint") from last
    try:
        config = Path(hf_hub_download(repo, "config.json", **kwargs))
    except Cancelled:
        raise
    except Exception:  # noqa: BLE001 - config.json is optional
        config = None
    return checkpoint, config


def _read_config_json(path: Path) -> "VGGTConfig":
    from .models.vggt import VGGTConfig

    try:
        return VGGTConfig.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise WeightsError(f"cannot read model config {path}: {exc}") from exc


def _checkpoint_file(path: Path) -> Path:
    """A directory stands for the first of model.safetensors / model.pt inside it."""
    if path.is_dir():
        return next((path / n for n in ("model.safetensors", "model.pt") if (path / n).is_file()), path / "model.safetensors")
    return path


def _load_file(
    path: Path, progress: Progress | None = None, cancel: Cancel | None = None
) -> tuple[dict[str, "torch.Tensor"], "VGGTConfig | None"]:
    """Tensors of one local checkpoint file (or folder, see `_checkpoint_file`) + the config stored with
    it (metadata or sibling config.json). progress("load", 0.0) first; for .safetensors, progress and
    cancel() then run per tensor."""
    path = _checkpoint_file(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; check --weights / VGGT_WEIGHTS")
    if progress is not None:
        progress("load", 0.0)
    config = None
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                keys = list(f.keys())
                state = {}
                for i, k in enumerate(keys):
                    if cancel is not None and cancel():
                        raise Cancelled("model loading cancelled")
                    state[k] = f.get_tensor(k)
                    if progress is not None:
                        progress("load", (i + 1) / len(keys))
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{path} is not a readable .safetensors file ({exc}); re-download it") from exc
        if CONFIG_METADATA_KEY in meta:
            from .models.vggt import VGGTConfig

            try:
                config = VGGTConfig.from_dict(json.loads(meta[CONFIG_METADATA_KEY]))
            except (ValueError, TypeError) as exc:
                raise WeightsError(f"{path} has an invalid '{CONFIG_METADATA_KEY}' metadata entry: {exc}") from exc
    else:
        import torch

        try:
            try:
                raw = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
                raw = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
            raise WeightsError(f"{path} is not a loadable PyTorch checkpoint ({type(exc).__name__}); re-download it") from exc
        if not isinstance(raw, Mapping):
            raise WeightsError(f"{path} does not contain a state dict")
        state = raw
    sibling = path.with_name("config.json")
    if config is None and sibling.is_file():
        config = _read_config_json(sibling)
    return normalize_state_dict(state), config


def load_state_dict_from(
    source: str, token: str | None = None, progress: Progress | None = None, cancel: Cancel | None = None
) -> tuple[dict[str, "torch.Tensor"], "VGGTConfig | None"]:
    """Load the raw tensors of `source` (HF repo id or local file) -> (state dict, config or None).

    The config is None when the source does not describe one (then VGGT-1B is assumed).
    progress/cancel: see `download_from_hub` and `_load_file`.
    """
    if is_local_source(source):
        return _load_file(Path(source).expanduser(), progress, cancel)
    checkpoint, config_json = download_from_hub(source, token, progress, cancel)
    state, config = _load_file(checkpoint, progress, cancel)
    if config is None and config_json is not None:
        config = _read_config_json(config_json)
    return state, config


def _check_keys(model: "torch.nn.Module", state: Mapping[str, "torch.Tensor"], source: str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)}!={expected[k]}" for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
        raise WeightsError(f"{source} is not a VGGT checkpoint for this model config; " + "; ".join(parts))


def model_from_state_dict(state: Mapping[str, "torch.Tensor"], config: "VGGTConfig | None", source: str = "checkpoint") -> "VGGT":
    """Build a VGGT without allocating random weights and assign `state` (strict). Returns eval mode, fp32."""
    import torch

    from .models.vggt import VGGT

    # Module constructors must use only meta-safe ops here: an out-of-place op on a meta tensor (e.g.
    # ``randn(...) * 0.02``) imports torch._dynamo, and with it triton, which crashes Blender 5.2 after a
    # compositor render. Hence the in-place ``mul_`` in the track head's constructors.
    with torch.device("meta"):
        model = VGGT(config)
    _check_keys(model, state, source)
    fp32 = {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()}
    model.load_state_dict(fp32, strict=True, assign=True)
    return model.eval()


def load_model(
    source: str | None = None,
    token: str | None = None,
    config: "VGGTConfig | None" = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> "VGGT":
    """VGGT from `resolve_source(source)`; `config` overrides the one stored with the weights.

    progress(stage, fraction): "download" (only when a Hugging Face download happens), then "load".
    cancel(): polled during the download and between tensors; True raises Cancelled.
    """
    source = resolve_source(source)
    state, stored = load_state_dict_from(source, token=token, progress=progress, cancel=cancel)
    return model_from_state_dict(state, config or stored, source)


def save_checkpoint(model: "VGGT", path: str | os.PathLike) -> Path:
    """Write `model`'s weights as .safetensors with its config JSON in the "vggt_config" metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={CONFIG_METADATA_KEY: json.dumps(model.config.to_dict())})
    return path
