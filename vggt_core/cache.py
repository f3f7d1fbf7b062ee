"""One ``.npz`` file per ``Reconstruction``, plus the key that says when a stored result can be reused.

File layout: every array field of ``Reconstruction`` under its own name (optional track arrays only when
present) and ``meta``, a uint8 array holding UTF-8 JSON: ``{"format", "version", "frames", "preprocess",
"model_id", "settings", "timings"}``. Nothing is pickled; files load with ``allow_pickle=False``.
Files are written to a temporary name and renamed, so a crash never leaves a half-written cache entry.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CacheError, InputError
from .reconstruction import FrameInfo, PreprocessRecord, Reconstruction

FORMAT = "vggt-blender.reconstruction"
VERSION = 1
_REQUIRED = (
    "extrinsics", "intrinsics", "intrinsics_model", "depth", "depth_conf", "world_points",
    "world_points_conf", "points_from_depth", "colors", "valid",
)
_OPTIONAL = ("tracks", "track_vis", "track_conf", "query_points")


def save(recon: Reconstruction, path: str | Path) -> Path:
    """Write ``recon`` to ``path`` (parent folders created). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "frames": [asdict(f) for f in recon.frames],
        "preprocess": [asdict(r) for r in recon.preprocess],
        "model_id": recon.model_id,
        "settings": recon.settings,
        "timings": recon.timings,
    }
    arrays = {name: getattr(recon, name) for name in _REQUIRED}
    arrays.update({name: getattr(recon, name) for name in _OPTIONAL if getattr(recon, name) is not None})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:  # a file object stops numpy from appending ".npz"
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: str | Path) -> Reconstruction:
    """Read a file written by ``save``. Raises CacheError (one line) for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"cache file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CacheError(f"{path} is not a VGGT reconstruction cache file")
            if meta.get("version") != VERSION:
                raise CacheError(
                    f"{path} has cache schema version {meta.get('version')}, this version reads {VERSION}; "
                    "delete it to recompute"
                )
            arrays = {name: data[name] for name in _REQUIRED}
            arrays.update({name: data[name] for name in _OPTIONAL if name in data.files})
        recon = Reconstruction(
            frames=[FrameInfo(**f) for f in meta["frames"]],
            preprocess=[_record(r) for r in meta["preprocess"]],
            model_id=meta["model_id"],
            settings=meta["settings"],
            timings=meta["timings"],
            **arrays,
        )
    except CacheError:
        raise
    except Exception as err:  # zip, zlib, json, key and shape errors all mean "not a usable cache file"
        reason = (str(err).splitlines() or [""])[0] or type(err).__name__
        raise CacheError(f"{path} is not a readable VGGT cache file ({reason}); delete it to recompute") from None
    if recon.extrinsics.shape[0] != len(recon.frames) or recon.depth.shape[0] != len(recon.frames):
        raise CacheError(f"{path} is inconsistent (frame count differs between arrays); delete it to recompute")
    return recon


def _record(data: dict[str, Any]) -> PreprocessRecord:
    # JSON turns the size/offset tuples into lists; the dataclass promises tuples.
    return PreprocessRecord(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def weights_identity(model_id: str) -> list:
    """``model_id`` plus, for a local checkpoint file, its absolute path, size and mtime."""
    path = Path(model_id)
    if path.is_file():
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    return [model_id]


def cache_key(infos: Sequence[FrameInfo], model_id: str, settings: Any) -> str:
    """sha256 hex digest identifying a run: frame files (path, size, mtime), frame indices, weights, settings.

    settings: a settings dataclass or a JSON-serialisable dict. Touching or replacing an input file or a
    local checkpoint changes the key, so stale results are never reused.
    """
    stats = {}
    for source in dict.fromkeys(i.source for i in infos):
        try:
            st = os.stat(source)
        except OSError:
            raise InputError(f"input not found: {source}") from None
        stats[source] = [st.st_size, st.st_mtime_ns]
    ident = {
        "format": FORMAT,
        "version": VERSION,
        "weights": weights_identity(model_id),
        "settings": asdict(settings) if is_dataclass(settings) else settings,
        "frames": [[i.source, i.index, *stats[i.source]] for i in infos],
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=list).encode("utf-8")).hexdigest()
