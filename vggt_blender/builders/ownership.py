"""What belongs to one VGGT import, and removing it without touching the artist's additions.

Every datablock an import creates carries ``IMPORT_KEY = <import id>`` (see ``datablocks.Ledger``);
the import's top collection carries it too. Anything without that mark is the artist's: objects
they linked into the import's collections, objects they parented to its objects, collections they
nested in it, and data they assigned (a material, an image) stay when the import goes. A lens the import
lent to the artist's own Movie Clip goes back (``clip_lens.give_back``).
"""
from __future__ import annotations

import bpy

from .clip_lens import give_back
from .datablocks import IMPORT_KEY, NAME_KEY, ROOT_KEY, import_id, seal_name

# bpy.data collections that can hold datablocks an import creates.
_KINDS = ("objects", "collections", "meshes", "cameras", "materials", "node_groups", "images", "movieclips",
          "actions", "masks", "scenes")


def owned(col: bpy.types.Collection) -> list[bpy.types.ID]:
    """Every datablock created by the import whose top collection is ``col`` (``col`` included)."""
    key = import_id(col)
    if key is None:
        return []
    return [idb for kind in _KINDS for idb in getattr(bpy.data, kind) if import_id(idb) == key]


def set_aside(col: bpy.types.Collection) -> list[tuple[bpy.types.ID, str]]:
    """Rename the import's datablocks (" (old)") so a rebuild can take their names without ".001".

    Returns the original names, for ``restore_names`` if the rebuild fails.
    """
    saved = [(idb, idb.name) for idb in owned(col) if not isinstance(idb, bpy.types.Mask)]  # a rebuild makes none
    for idb, name in saved:
        idb.name = f"{name} (old)"
        seal_name(idb)
    return saved


def restore_names(saved: list[tuple[bpy.types.ID, str]]) -> None:
    """Undo ``set_aside``."""
    for idb, name in saved:
        idb.name = name
        seal_name(idb)


def root_of(col: bpy.types.Collection) -> bpy.types.Object | None:
    """The root Empty of import ``col`` (None when the artist deleted it)."""
    return next((o for o in col.objects if o.get(ROOT_KEY) and import_id(o) == import_id(col)), None)


def _parents(col: bpy.types.Collection) -> list[bpy.types.Collection]:
    """Collections (scene master collections included) that hold ``col`` as a child."""
    holders = [*bpy.data.collections, *(s.collection for s in bpy.data.scenes)]
    return [c for c in holders if c.children.get(col.name) == col]


def remove_import(col: bpy.types.Collection, heir: bpy.types.Collection | None = None) -> None:
    """Delete the import ``col`` and the data it created that nothing else uses (the rest loses its
    mark: it is the artist's now).

    The artist's additions survive: objects only linked to the import's collections and collections
    nested in them move to ``heir`` (the replacing import's collection; by default the collection
    that held ``col``), and objects parented to the import's objects are parented to ``heir``'s root
    (or to nothing) at the same world matrix. Object world matrices are read as last evaluated. The
    artist's clip gets back its lens unless ``heir`` lent it one again (``clip_lens``). Our Mask (*Mask From
    Rejected Tracks*) becomes ``heir``'s, as the artist left it.
    """
    ours = set(owned(col))
    if not ours:
        return
    if heir is not None:  # our Mask (Mask From Rejected Tracks), maybe adjusted since and in the panel's Masks
        for mask in [idb for idb in ours if isinstance(idb, bpy.types.Mask)]:
            mask[IMPORT_KEY] = import_id(heir)
            ours.discard(mask)
    give_back(import_id(col))
    home = heir or next(iter(_parents(col)), None) or bpy.context.scene.collection
    new_parent = root_of(heir) if heir is not None else None
    our_cols = [c for c in ours if isinstance(c, bpy.types.Collection)]
    for c in our_cols:
        for child in c.children:
            if child not in ours and home.children.get(child.name) != child:
                home.children.link(child)
        for obj in c.objects:
            if obj not in ours and all(u in ours for u in obj.users_collection):
                home.objects.link(obj)
    for obj in bpy.data.objects:
        if obj not in ours and obj.parent in ours:
            world = obj.matrix_world.copy()
            obj.parent = new_parent
            if new_parent is not None:  # an unparented root: its world matrix is its basis
                obj.matrix_parent_inverse = new_parent.matrix_basis.inverted()
            obj.matrix_basis = world
    # Without an heir our Mask goes too, though the panel's Masks list it: its row is then empty. A redistort
    # scene goes with its import: its ST-maps are the old solve's.
    gone = (bpy.types.Object, bpy.types.Collection, bpy.types.Mask, bpy.types.Scene)
    bpy.data.batch_remove([idb for idb in ours if isinstance(idb, gone)])
    data = [idb for idb in ours if not isinstance(idb, gone)]
    while True:  # freeing a mesh frees its material's user, which frees the image's: repeat
        unused = [idb for idb in data if idb.users == 0]
        if not unused:
            break
        data = [idb for idb in data if idb.users > 0]  # before the removal: freed structs can't be read
        bpy.data.batch_remove(unused)
    for idb in data:  # still used by the artist's objects: theirs now
        for key in (IMPORT_KEY, NAME_KEY):
            if key in idb:
                del idb[key]
