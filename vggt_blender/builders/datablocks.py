"""Datablock bookkeeping shared by the builders: a ledger for all-or-nothing imports that marks what
it creates, loaders that reuse the artist's images/clips, and small version-compat helpers
(Blender 4.2 LTS .. 5.0)."""
from __future__ import annotations

import os
import uuid
from typing import Any, Callable, Iterable

import bpy
import numpy as np

_INTERP_CODES = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}  # FCurve keyframe interpolation enum values


IMPORT_KEY = "vggt_import"  # custom property on every datablock an import creates: that import's id
ROOT_KEY = "vggt_root"  # custom property (True) on an import's root Empty, which parents all its objects
# The datablock's name when its import finished. Duplicating an object (Shift+D) copies its custom
# properties but not its name, so a copy the artist made is never taken for the import's own.
NAME_KEY = "vggt_name"
CACHE_PROP = "vggt_cache"  # on an import's collection: its cache file, relative to the .blend where it can be


def cache_file_of(col: bpy.types.Collection) -> str:
    """The absolute cache file path stored on a VGGT collection ("" when it has none)."""
    stored = col.get(CACHE_PROP, "")
    return os.path.normpath(bpy.path.abspath(stored, library=col.library)) if stored else ""


def import_id(idblock: Any) -> str | None:
    """The id of the VGGT import that created ``idblock``, or None (the artist's own data, a copy
    of an imported datablock included)."""
    value = idblock.get(IMPORT_KEY)
    if not isinstance(value, str):
        return None
    sealed = idblock.get(NAME_KEY)
    return value if sealed is None or sealed == idblock.name else None


def seal_name(idblock: Any) -> None:
    """Record ``idblock``'s current name as the one its import gave it (see ``NAME_KEY``)."""
    idblock[NAME_KEY] = idblock.name


class Ledger:
    """Records every datablock an import creates, so a failure can remove exactly those, and marks
    each with ``IMPORT_KEY = import_id`` so that a later Replace/remove finds them (and only them).
    A change the artist asked for to their own data records how to put it back (``on_rollback``)."""

    def __init__(self, of_import: str | None = None) -> None:
        """of_import: the id of an existing import, for data added to it later (else a new import's id)."""
        self.import_id = of_import or uuid.uuid4().hex
        self._ids: list[bpy.types.ID] = []
        self._undo: list[Callable[[], None]] = []

    def add(self, idblock: Any) -> Any:
        """Record and mark ``idblock`` (returned unchanged, for chaining)."""
        idblock[IMPORT_KEY] = self.import_id
        self._ids.append(idblock)
        return idblock

    def owns(self, idblock: Any) -> bool:
        """True when ``idblock`` was created by this import."""
        return import_id(idblock) == self.import_id

    def seal(self) -> None:
        """The import succeeded: record every datablock's final name (see ``NAME_KEY``)."""
        for idb in self._ids:
            seal_name(idb)

    def may_reuse(self, idblock: Any) -> bool:
        """True for the artist's data and this import's own: another import's data is never shared,
        so removing that import can delete it."""
        return import_id(idblock) in (None, self.import_id)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` (it puts back a change made to data this import does not own) if the import fails."""
        self._undo.append(undo)

    def rollback(self) -> None:
        """Undo the changes to the artist's data, then remove every recorded datablock (newest first). Safe
        to call once after a failure."""
        for undo in reversed(self._undo):
            try:
                undo()
            except ReferenceError:  # the changed datablock is gone: nothing to put back
                pass
        self._undo.clear()
        alive = []
        for idb in reversed(self._ids):
            try:
                idb.name  # raises ReferenceError when already freed
            except ReferenceError:
                continue
            alive.append(idb)
        self._ids.clear()
        if alive:
            bpy.data.batch_remove(alive)


def new_object(ledger: Ledger, name: str, data: Any, collection: bpy.types.Collection,
               parent: bpy.types.Object | None = None, matrix: Any = None) -> bpy.types.Object:
    """Create an object, link it to ``collection``, parent it (no parent inverse) and set its local matrix."""
    from mathutils import Matrix

    obj = ledger.add(bpy.data.objects.new(name, data))
    collection.objects.link(obj)
    if parent is not None:
        obj.parent = parent
        obj.matrix_parent_inverse = Matrix.Identity(4)
    if matrix is not None:
        obj.matrix_basis = Matrix(np.asarray(matrix, dtype=np.float64).tolist())
    return obj


def same_file(a: str, b: str) -> bool:
    """Whether Blender path ``a`` (may be "//"-relative) and absolute path ``b`` name the same file."""
    try:
        return os.path.normcase(os.path.abspath(bpy.path.abspath(a))) == os.path.normcase(os.path.abspath(b))
    except (ValueError, OSError):
        return False


def load_image(ledger: Ledger, path: str, reuse: bool = True) -> bpy.types.Image | None:
    """The Image for ``path`` (with ``reuse``, an already loaded single image of that file that the
    artist or this import loaded; else loaded and recorded); None if unreadable."""
    if reuse:
        for img in bpy.data.images:
            if (img.filepath and img.source in ("FILE", "MOVIE") and ledger.may_reuse(img)
                    and same_file(img.filepath, path)):
                return img
    if not os.path.isfile(path):
        return None
    try:
        return ledger.add(bpy.data.images.load(path, check_existing=False))
    except RuntimeError:  # unsupported or corrupt file: the import goes on without this texture
        return None


def load_clip(ledger: Ledger, path: str, reuse: bool = True) -> bpy.types.MovieClip | None:
    """The MovieClip for ``path`` (with ``reuse``, an already loaded one of the artist or this import);
    None if it cannot be opened."""
    if reuse:
        for clip in bpy.data.movieclips:
            if clip.filepath and ledger.may_reuse(clip) and same_file(clip.filepath, path):
                return clip
    if not os.path.isfile(path):
        return None
    try:
        return ledger.add(bpy.data.movieclips.load(path, check_existing=False))
    except RuntimeError:
        return None


def node_tree_of(mat: bpy.types.Material) -> bpy.types.NodeTree:
    """The material's node tree; 5.0 creates it with the material, 4.x needs ``use_nodes`` (deprecated in 5.0)."""
    if mat.node_tree is None:
        mat.use_nodes = True
    return mat.node_tree


def photo_material(ledger: Ledger, name: str) -> tuple[bpy.types.Material, bpy.types.NodeSocket]:
    """A material that shows a colour as-is (emission + matching base colour) in Cycles and EEVEE.

    Returns the material and the colour input to link a texture/attribute into. Emission keeps the
    photographed colours independent of the scene lighting, which is what a reference layer needs.
    """
    mat = ledger.add(bpy.data.materials.new(name))
    nt = node_tree_of(mat)
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    emit = nt.nodes.new("ShaderNodeEmission")
    emit.inputs["Strength"].default_value = 1.0
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    out.location, emit.location = (300, 0), (0, 0)
    return mat, emit.inputs["Color"]


def fcurve_ensure(idblock: bpy.types.ID, data_path: str, index: int, ledger: Ledger,
                  share: bpy.types.ID | None = None) -> bpy.types.FCurve:
    """An F-Curve for ``idblock.data_path[index]``, creating (and recording) the action if needed.

    4.4+ has layered actions (``Action.fcurve_ensure_for_datablock`` creates slot/layer/strip), so
    ``share`` (e.g. the camera object animating ``idblock``, its camera data) lends its action and
    ``idblock`` gets a slot in it: one action per animated camera. 4.2 only has the legacy
    ``Action.fcurves``, one ID type per action, so there ``share`` is ignored.
    """
    ad = idblock.animation_data or idblock.animation_data_create()
    shared = share.animation_data.action if share is not None and share.animation_data else None
    if ad.action is None and shared is not None and hasattr(shared, "fcurve_ensure_for_datablock"):
        ad.action = shared
    if ad.action is None:
        ad.action = ledger.add(bpy.data.actions.new(f"{idblock.name}Action"))
    act = ad.action
    if hasattr(act, "fcurve_ensure_for_datablock"):
        return act.fcurve_ensure_for_datablock(idblock, data_path, index=index)
    return act.fcurves.find(data_path, index=index) or act.fcurves.new(data_path, index=index)


def set_keys(fc: bpy.types.FCurve, frames: Iterable[float], values: Iterable[float], interpolation: str) -> None:
    """Replace ``fc``'s keys with (frame, value) pairs in one ``foreach_set`` (fast for long shots)."""
    co = np.stack([np.asarray(list(frames), np.float32), np.asarray(list(values), np.float32)], axis=1)
    kp = fc.keyframe_points
    kp.clear()
    kp.add(len(co))
    kp.foreach_set("co", co.ravel())
    kp.foreach_set("interpolation", np.full(len(co), _INTERP_CODES[interpolation], dtype=np.int32))
    fc.update()
