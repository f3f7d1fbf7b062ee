"""Model download and result cache in the preferences, and cache paths that survive moving a project.

* *Download Model*: fetches the chosen Hugging Face weights in a background thread (progress in the
  preferences, cancellable), so the first run does not wait on 5 GB.
* *Clear Cache*: deletes this extension's result files (``vggt_core.run.cache.clear``) and undistorted plates
  (``convert.clear_plates``) in the current cache folder; the preferences show what both take.
* A collection's "vggt_cache" property is written relative to the .blend (``//vggt_cache/<key>.npz``) when
  the file lies in the .blend's folder: a ``save_pre`` handler rewrites it for the path being saved (and
  ``save_post`` for the one then current, which differs after *Save Copy*), and ``cache_file_of``
  resolves it, so re-import keeps working after the project folder is moved.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import bpy

from vggt_core.run import cache
from vggt_core import VGGTError, one_line
from vggt_core.network import is_local_source

from .. import addon
from ..builders.datablocks import CACHE_PROP, cache_file_of
from ..convert import clear_plates, plates_usage
from ..runs import runs, worker
from .threaded_op import ThreadedOperator



def portable_path(path: str, blend_path: str) -> str:
    """``path`` (absolute) as "//..." relative to ``blend_path``'s folder when it lies inside it, else unchanged."""
    if not path or not blend_path or path.startswith("//"):
        return path
    base = os.path.dirname(os.path.abspath(blend_path))
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive (Windows)
        return path
    if rel == os.curdir or rel.split(os.sep, 1)[0] == os.pardir:
        return path  # outside the project folder: it does not move with it
    return "//" + rel.replace(os.sep, "/")


_absolute: dict[str, str] = {}  # collection name -> absolute cache path, between save_pre and save_post


def _rewrite(blend_path: str) -> None:
    for name, path in _absolute.items():
        col = bpy.data.collections.get(name)
        if col is not None:
            col[CACHE_PROP] = portable_path(path, blend_path)


@bpy.app.handlers.persistent
def _save_pre(filepath: str = "", _unused: object = None) -> None:
    _absolute.clear()
    for col in bpy.data.collections:
        if col.library is None and col.get(CACHE_PROP):
            _absolute[col.name] = cache_file_of(col)
    _rewrite(filepath)


@bpy.app.handlers.persistent
def _save_post(_filepath: str = "", _unused: object = None) -> None:
    _rewrite(bpy.data.filepath)  # the open file's path (not the copy's, after Save Copy)
    _absolute.clear()


def register_handlers() -> None:
    for handlers, fn in ((bpy.app.handlers.save_pre, _save_pre), (bpy.app.handlers.save_post, _save_post)):
        if fn not in handlers:
            handlers.append(fn)


def unregister_handlers() -> None:
    for handlers, fn in ((bpy.app.handlers.save_pre, _save_pre), (bpy.app.handlers.save_post, _save_post)):
        if fn in handlers:
            handlers.remove(fn)


@dataclass
class DownloadState:
    """The running (or last) model download, written by its thread, read by the preferences UI."""

    running: bool = False
    fraction: float = 0.0
    message: str = ""
    failed: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


_download = DownloadState()


def download_state() -> DownloadState:
    return _download


def _download_thread(repo: str, token: str | None) -> None:
    from vggt_core.network import download_from_hub

    def progress(stage: str, fraction: float) -> None:
        _download.fraction = fraction

    try:
        checkpoint, _config = download_from_hub(repo, token, progress=progress, cancel=_download.cancel.is_set)
        _download.message, _download.failed = f"{repo} is downloaded ({checkpoint.stat().st_size / 1e9:.2f} GB)", False
    except VGGTError as err:  # Cancelled included
        _download.message, _download.failed = one_line(err), not _download.cancel.is_set()
    except Exception as err:  # noqa: BLE001 - shown in the preferences as one line
        _download.message, _download.failed = f"Download failed ({type(err).__name__}): {one_line(err)}", True
    finally:
        _download.running = False


def start_download(repo: str, token: str | None, wait: bool = False) -> None:
    """Download ``repo``'s weights into the Hugging Face cache in a thread (``wait``: block until done)."""
    if _download.running:
        raise RuntimeError("A model download is already running")
    _download.running, _download.fraction, _download.message, _download.failed = True, 0.0, "", False
    _download.cancel.clear()
    thread = threading.Thread(target=_download_thread, args=(repo, token), name="vggt-download-model", daemon=True)
    thread.start()
    if wait:
        thread.join()


class VGGT_OT_download_model(ThreadedOperator, bpy.types.Operator):
    """Download the chosen model's weights now (about 5 GB, once), so the first run does not wait for them"""

    bl_idname = "vggt.download_model"
    bl_label = "Download Model"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not _download.running

    def _start(self, context: bpy.types.Context, wait: bool) -> bool:
        try:
            spec = addon.engine_spec(context)
        except VGGTError as err:
            self.report({"ERROR"}, one_line(err))
            return False
        if is_local_source(spec.source):
            self.report({"INFO"}, f"VGGT: a local checkpoint is selected ({spec.source}); nothing to download")
            return False
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is disabled: allow it in Preferences > System > Network to download the model")
            return False
        start_download(spec.source, spec.token, wait=wait)
        return True

    def _state(self) -> DownloadState:
        return _download


class VGGT_OT_cancel_download(bpy.types.Operator):
    """Stop the model download (the part already received is kept and resumed next time)"""

    bl_idname = "vggt.cancel_download"
    bl_label = "Cancel Download"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _download.running and not _download.cancel.is_set()

    def execute(self, context: bpy.types.Context) -> set[str]:
        _download.cancel.set()
        return {"FINISHED"}


class VGGT_OT_clear_cache(bpy.types.Operator):
    """Delete the cached VGGT results and undistorted plates in this file's cache folder (Re-import from Cache then needs a new run)"""

    bl_idname = "vggt.clear_cache"
    bl_label = "Clear Cache"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if worker.is_busy():
            cls.poll_message_set("A VGGT run is in progress")
            return False
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context: bpy.types.Context) -> set[str]:
        folder = runs.default_cache_dir()
        plates, plate_bytes = clear_plates(runs.undistorted_dir())  # first: the cache folder can then go too
        removed, freed = cache.clear(folder)
        self.report({"INFO"}, f"VGGT: removed {removed} cached results and {plates} undistorted plates "
                    f"({(freed + plate_bytes) / 1e6:.1f} MB) from {folder}")
        return {"FINISHED"}


def draw_preferences(layout: bpy.types.UILayout, addon_prefs: bpy.types.AddonPreferences) -> None:
    """The preferences' download and cache boxes."""
    box = layout.box()
    if _download.running:
        row = box.row()
        row.progress(text=f"Downloading model {_download.fraction:.0%}", factor=_download.fraction, type="BAR")
        row.operator("vggt.cancel_download", text="", icon="CANCEL")
    else:
        box.operator("vggt.download_model", icon="IMPORT")
        if _download.message:
            box.label(text=_download.message, icon="ERROR" if _download.failed else "INFO")

    box = layout.box()
    box.prop(addon_prefs, "cache_results")
    folder = runs.default_cache_dir()
    count, size = cache.usage(folder)
    plates, plate_bytes = plates_usage(runs.undistorted_dir())
    row = box.row()
    row.label(text=f"{count} cached results, {plates} undistorted plates, {(size + plate_bytes) / 1e6:.1f} MB")
    row.operator("vggt.clear_cache", icon="TRASH")
    box.label(text=f"Folder: {folder}")


classes = (VGGT_OT_download_model, VGGT_OT_cancel_download, VGGT_OT_clear_cache)
