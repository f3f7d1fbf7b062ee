"""Finding and loading VGGT checkpoints: Hugging Face repos, local .safetensors and .pt/.pth files.

Every failure a user can hit becomes a one-line `WeightsError` that says what to do next.
Models are built on the meta device and the loaded tensors are assigned in place, so a 5 GB
checkpoint needs about 5 GB of RAM, not 10.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import WeightsError

if TYPE_CHECKING:
    import torch

    from .models.vggt import VGGT, VGGTConfig

DEFAULT_REPO = "facebook/VGGT-1B"
CONFIG_METADATA_KEY = "vggt_config"
_LOCAL_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
# Files tried, in order, per repo; other repos use model.safetensors.
_REPO_FILES = {"facebook/VGGT-1B-Commercial": ("model.safetensors", "vggt_1B_commercial.pt")}


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
    return WeightsError(f"could not download weights for {repo}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")


def download_from_hub(repo: str, token: str | None = None) -> tuple[Path, Path | None]:
    """Download (or find in the cache) the checkpoint of `repo` -> (checkpoint path, config.json or None).

    A copy already in the Hugging Face cache is used without touching the network (fast, and works
    offline); otherwise it is downloaded, unless HF_HUB_OFFLINE is set. Raises WeightsError with an
    actionable message.
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
    return _fetch(repo, token, local_only=False)


def _fetch(repo: str, token: str | None, local_only: bool) -> tuple[Path, Path | None]:
    """One pass over the repo's candidate checkpoint names; cache misses in local_only mode propagate."""
    from huggingface_hub import errors as hf
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {"token": token, "local_files_only": local_only}
    last: Exception | None = None
    checkpoint = None
    for filename in _REPO_FILES.get(repo, ("model.safetensors",)):
        try:
            checkpoint = Path(hf_hub_download(repo, filename, **kwargs))
            break
        except (hf.EntryNotFoundError, hf.RemoteEntryNotFoundError, hf.LocalEntryNotFoundError) as err:
            last = err  # try the next file name
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
    except Exception:  # noqa: BLE001 - config.json is optional
        config = None
    return checkpoint, config


def _read_config_json(path: Path) -> "VGGTConfig":
    from .models.vggt import VGGTConfig

    try:
        return VGGTConfig.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise WeightsError(f"cannot read model config {path}: {exc}") from exc


def _load_file(path: Path) -> tuple[dict[str, "torch.Tensor"], "VGGTConfig | None"]:
    """Tensors of one local checkpoint file + the config stored with it (metadata or sibling config.json).

    A directory stands for the first of model.safetensors / model.pt inside it.
    """
    if path.is_dir():
        path = next((path / n for n in ("model.safetensors", "model.pt") if (path / n).is_file()), path / "model.safetensors")
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; check --weights / VGGT_WEIGHTS")
    config = None
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
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


def load_state_dict_from(source: str, token: str | None = None) -> tuple[dict[str, "torch.Tensor"], "VGGTConfig | None"]:
    """Load the raw tensors of `source` (HF repo id or local file) -> (state dict, config or None).

    The config is None when the source does not describe one (then VGGT-1B is assumed).
    """
    if is_local_source(source):
        return _load_file(Path(source).expanduser())
    checkpoint, config_json = download_from_hub(source, token)
    state, config = _load_file(checkpoint)
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

    with torch.device("meta"):
        model = VGGT(config)
    _check_keys(model, state, source)
    fp32 = {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()}
    model.load_state_dict(fp32, strict=True, assign=True)
    return model.eval()


def load_model(source: str | None = None, token: str | None = None, config: "VGGTConfig | None" = None) -> "VGGT":
    """VGGT from `resolve_source(source)`; `config` overrides the one stored with the weights."""
    source = resolve_source(source)
    state, stored = load_state_dict_from(source, token=token)
    return model_from_state_dict(state, config or stored, source)


def save_checkpoint(model: "VGGT", path: str | os.PathLike) -> Path:
    """Write `model`'s weights as .safetensors with its config JSON in the "vggt_config" metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={CONFIG_METADATA_KEY: json.dumps(model.config.to_dict())})
    return path
