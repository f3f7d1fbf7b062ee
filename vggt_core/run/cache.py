"""One ``.npz`` file per ``Reconstruction``, plus the key that says when a stored result can be reused.

File layout (VERSION 2): every stored array field of ``Reconstruction`` under its own name (optional track
arrays only when present) and ``meta``, a uint8 array holding UTF-8 JSON: ``{"format", "version", "frames",
"preprocess", "model_id", "settings", "timings", "chunks", "solve", "lens"}`` (``chunks`` null unless stitched from
chunks; ``solve`` and ``lens``, ``Lens.to_json``, null unless a camera solve ran). ``points_from_depth`` and ``valid``
follow from the other fields and are recomputed on load by the same code that made them (``derived.derived_arrays``),
so a loaded result is bit-identical to the one saved; this keeps a file at about 27 bytes per model pixel (4.1 MB
per 518x294 frame, against 6.1 MB with them). Nothing is pickled; files load with ``allow_pickle=False``. Files are
written to a temporary name and renamed, so a crash never leaves a half-written cache entry.

The pipeline keeps two entries per run (``vggt_core.run.pipeline``): the network's output, keyed by what the
network sees, and the solved result, keyed by every setting, the mattes' files and the solve's code version
(``vggt_core.solve.VERSION``); one file under both names (a hard link) when the solve left the network's output
as it was, else a solved file holding what the solve changed and naming the network's file for the dense arrays
it shares (``meta["base"]``). ``usage`` and ``clear`` count such a file once. Every file a run reads enters its key: frames and
mattes by path, size and mtime (``file_stamps``), weights by content (``weights_identity``), mask arrays by
their digest (``plate.masks.digest``, in ``settings.mask``).

Bump VERSION whenever the stored arrays, or the network-side computation behind them, change: it is part of
every key. A change to the solve's results bumps ``solve.VERSION`` instead, which re-solves from cached networks.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..derived import derived_arrays
from ..errors import CacheError, InputError, one_line
from ..reconstruction import FrameInfo, Lens, PreprocessRecord, Reconstruction

FORMAT = "vggt-blender.reconstruction"
VERSION = 3  # 3: tracks and queries in the continuous pixel convention (engine.TRACK_HEAD_SHIFT)
_STORED = (
    "extrinsics", "intrinsics", "intrinsics_model", "depth", "depth_conf", "world_points",
    "world_points_conf", "colors",
)
_OPTIONAL = ("tracks", "track_vis", "track_conf", "query_points", "query_frames", "tracks_plate", "tracks_plate_vis",
             "sparse_points", "sparse_colors", "sparse_obs", "sparse_uv",
             "moving_tracks", "masked")
_RESULT_NAME = re.compile(r"[0-9a-f]{64}\.npz")  # what ``cache_key`` names produce
_SHA256 = re.compile(r"[0-9a-f]{64}")
WEIGHTS_MEMO = "weights-sha256.json"  # in a cache folder: sha256 of local checkpoints by (path, size, mtime)


def save(recon: Reconstruction, path: str | Path, base: tuple[str | Path, Reconstruction] | None = None) -> Path:
    """Write ``recon`` to ``path`` (parent folders created). Returns the path.

    base: ``(file, its Reconstruction)``, a stored result in the same folder that ``recon`` was made from (a solve
    of that network output): the dense arrays ``recon`` shares with it (the very same arrays: depth, confidences,
    points, colours) are not written again but read from that file on ``load``, so a re-solve writes its cameras
    and solve, not another copy of the shot (issue 28: 590 MB per re-solve of 144 frames).
    """
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
        "chunks": recon.chunks,
        "solve": recon.solve,
        "lens": None if recon.lens is None else recon.lens.to_json(),
    }
    arrays = {name: getattr(recon, name) for name in _STORED}
    if base is not None:
        shared = [name for name in _STORED if arrays[name] is getattr(base[1], name)]
        if shared:
            meta["base"] = {"file": Path(base[0]).name, "arrays": shared}
            for name in shared:
                del arrays[name]
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
            arrays = {name: data[name] for name in _STORED if name in data.files}
            arrays.update({name: data[name] for name in _OPTIONAL if name in data.files})
        if meta.get("base"):
            arrays.update(_base_arrays(path, meta["base"]))
        records = [_record(r) for r in meta["preprocess"]]
        arrays.update(derived_arrays(arrays["depth"], arrays["extrinsics"], arrays["intrinsics_model"], records))
        if "masked" in arrays:  # pixels under a mask stay out of the points after a reload
            arrays["valid"] &= ~arrays["masked"]
        recon = Reconstruction(
            frames=[FrameInfo(**f) for f in meta["frames"]],
            preprocess=records,
            model_id=meta["model_id"],
            settings=meta["settings"],
            timings=meta["timings"],
            chunks=meta.get("chunks"),
            solve=meta.get("solve"),
            lens=None if meta.get("lens") is None else Lens.from_json(meta["lens"]),
            **arrays,
        )
    except CacheError:
        raise
    except Exception as err:  # zip, zlib, json, key and shape errors all mean "not a usable cache file"
        raise CacheError(f"{path} is not a readable VGGT cache file ({one_line(err)}); delete it to recompute") from None
    if recon.extrinsics.shape[0] != len(recon.frames) or recon.depth.shape[0] != len(recon.frames):
        raise CacheError(f"{path} is inconsistent (frame count differs between arrays); delete it to recompute")
    return recon


def _base_arrays(path: Path, base: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays a solved file shares with the network output it was solved from (``save``'s ``base``)."""
    other = path.with_name(base["file"])
    if not other.is_file():
        raise CacheError(f"{path} needs {other.name}, the network output it was solved from, which is gone; "
                         "run again to recompute")
    with np.load(other, allow_pickle=False) as data:
        return {name: data[name] for name in base["arrays"]}


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` dict of a file written by ``save`` (frames, settings, ...), without reading its arrays.

    Raises CacheError (one line) when the file is missing, unreadable or of another format or version.
    """
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"cache file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:  # reads only the members asked for
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
    except Exception as err:  # zip, json and key errors all mean "not a usable cache file"
        raise CacheError(f"{path} is not a readable VGGT cache file ({one_line(err)}); delete it to recompute") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CacheError(f"{path} is not a VGGT reconstruction cache file of version {VERSION}; delete it to recompute")
    return meta


def _record(data: dict[str, Any]) -> PreprocessRecord:
    # JSON turns the size/offset tuples into lists; the dataclass promises tuples.
    return PreprocessRecord(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


_memo: dict[str, list] = {}  # realpath -> [size, mtime_ns, sha256], for this process
_memo_lock = threading.Lock()


def file_sha256(path: str | Path, memo_dir: str | Path | None = None) -> str:
    """sha256 (hex) of a file's bytes, cheaply when it is already known.

    A Hugging Face cache stores LFS files (checkpoints) as ``blobs/<sha256 of the content>``, with the
    snapshot path a symlink to it: that name is used as is. Any other file is hashed once (about 4 s for
    5 GB at 1.4 GB/s) and remembered by (real path, size, mtime) in this process and, when ``memo_dir`` is
    given, in ``memo_dir/weights-sha256.json``, so later runs and sessions do not read it again.
    """
    real = Path(path).resolve()
    if real.parent.name == "blobs" and _SHA256.fullmatch(real.name):
        return real.name
    st = real.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    memo_file = Path(memo_dir) / WEIGHTS_MEMO if memo_dir is not None else None
    with _memo_lock:
        if memo_file is not None and str(real) not in _memo:
            try:
                _memo.update(json.loads(memo_file.read_text()))
            except (OSError, ValueError):
                pass  # no memo yet, or an unreadable one: hash again
        known = _memo.get(str(real))
        if isinstance(known, list) and known[:2] == stamp:
            return known[2]
    with open(real, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    with _memo_lock:
        _memo[str(real)] = [*stamp, digest]
        if memo_file is not None:
            try:
                memo_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo_file.with_name(f".{memo_file.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(_memo))
                os.replace(tmp, memo_file)
            except OSError:
                pass  # a read-only cache folder only costs a re-hash next session
    return digest


def weights_identity(source: str, memo_dir: str | Path | None = None) -> dict[str, str | None] | None:
    """What identifies the weights ``source`` (HF repo id, or local file/folder) names, by content:
    ``{"checkpoint": sha256 of the checkpoint file, "config": sha256 of its config.json or None}``.

    A repo id and the path of its file in the Hugging Face cache (or any copy of that file) give the same
    identity. None when the weights are not on this machine (a repo not downloaded yet, a missing file).
    """
    from ..network.weights import locate

    found = locate(source)
    if found is None:
        return None
    checkpoint, config = found
    return {
        "checkpoint": file_sha256(checkpoint, memo_dir),
        "config": hashlib.sha256(config.read_bytes()).hexdigest() if config is not None else None,
    }


def file_stamps(paths: Iterable[str | Path]) -> dict[str, list[int]]:
    """``{path: [size, mtime_ns]}`` for each distinct file of ``paths``: what a key sees of a file, so one
    rewritten, touched or replaced under the same name changes the key. Raises InputError (one line) for a
    missing file."""
    stamps = {}
    for path in dict.fromkeys(str(p) for p in paths):
        try:
            st = os.stat(path)
        except OSError:
            raise InputError(f"input not found: {path}") from None
        stamps[path] = [st.st_size, st.st_mtime_ns]
    return stamps


def cache_key(infos: Sequence[FrameInfo], identity: Mapping[str, Any], settings: Any,
              files: Sequence[str | Path] = (), code: Mapping[str, int] | None = None) -> str:
    """sha256 hex digest identifying a run: frame files (path, size, mtime), frame indices, what the
    model is (``identity``: weights identity plus device/dtype, see ``pipeline.cache_path``), settings,
    the other files the run reads (``files``: mattes; path, size, mtime), the versions of the code behind
    the stored result (``code``: e.g. ``{"solve": solve.VERSION}``) and this file format's VERSION.

    settings: a settings dataclass or a JSON-serialisable dict. Touching or replacing an input file or a
    local checkpoint changes the key, so stale results are never reused.
    """
    stats = file_stamps(i.source for i in infos)
    ident = {
        "format": FORMAT,
        "version": VERSION,
        "model": dict(identity),
        "settings": asdict(settings) if is_dataclass(settings) else settings,
        "frames": [[i.source, i.index, *stats[i.source]] for i in infos],
        "files": [[path, *stamp] for path, stamp in file_stamps(files).items()],
        "code": dict(code or {}),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=list).encode("utf-8")).hexdigest()


def _entries(cache_dir: str | Path) -> list[os.DirEntry]:
    """This module's files in ``cache_dir``: results, the weights memo, leftover temporary files."""
    try:
        with os.scandir(cache_dir) as it:
            return [e for e in it if e.is_file(follow_symlinks=False) and (
                _RESULT_NAME.fullmatch(e.name) or e.name == WEIGHTS_MEMO
                or (e.name.startswith(".") and e.name.endswith(".tmp")
                    and (_RESULT_NAME.match(e.name[1:]) or e.name[1:].startswith(WEIGHTS_MEMO))))]
    except (FileNotFoundError, NotADirectoryError):
        return []


def usage(cache_dir: str | Path) -> tuple[int, int]:
    """(number of stored results, bytes taken by this module's files) in ``cache_dir``.

    A file stored under two keys (hard links: a network output the solve left as it was) counts once.
    """
    entries = _entries(cache_dir)
    files = {(e.stat().st_dev, e.stat().st_ino): e for e in entries}
    return sum(1 for e in files.values() if _RESULT_NAME.fullmatch(e.name)), sum(e.stat().st_size for e in files.values())


def clear(cache_dir: str | Path) -> tuple[int, int]:
    """Delete this module's files in ``cache_dir`` (other files stay), then the folder if it is empty.

    Returns (results removed, bytes freed), a file stored under two keys counted once (as ``usage``).
    """
    removed = freed = 0
    gone: set[tuple[int, int]] = set()
    for entry in _entries(cache_dir):
        st = entry.stat()
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        if (st.st_dev, st.st_ino) not in gone:
            gone.add((st.st_dev, st.st_ino))
            freed += st.st_size
            removed += bool(_RESULT_NAME.fullmatch(entry.name))
    try:
        os.rmdir(cache_dir)
    except OSError:  # absent, or holds someone else's files
        pass
    return removed, freed
