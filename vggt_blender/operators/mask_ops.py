"""The panel's *Masks* list (add / remove a row), and *Mask From Rejected Tracks*: a new Mask around what the
solve threw out as moving, added to that list so that *Re-solve* keeps it out of the solve; the artist adjusts
it and re-solves."""
from __future__ import annotations

import bpy
from bpy.props import FloatProperty

from ..builders.datablocks import import_id
from ..builders.rejected_mask import build_rejected_mask, moving_observations
from . import setup_ops


def _import_collection(root: bpy.types.Object) -> bpy.types.Collection | None:
    return next((c for c in root.users_collection if "vggt_settings" in c), None)


def rejected_clip(col: bpy.types.Collection) -> bpy.types.MovieClip | None:
    """The import ``col``'s own plate clip holding its rejected-track markers, or None."""
    key = import_id(col)
    return next((c for c in bpy.data.movieclips if import_id(c) == key and moving_observations(c)[2].any()), None)


def add_mask(props: bpy.types.PropertyGroup, mask: bpy.types.Mask | None) -> None:
    """Append a row holding ``mask`` (None: an empty row to fill in) to ``props.masks`` (``scene.vggt``), as
    the active row."""
    props.masks.add().mask = mask
    props.masks_index = len(props.masks) - 1


class VGGT_OT_mask_add(bpy.types.Operator):
    """Add a row to the Masks list, then pick its Mask"""

    bl_idname = "vggt.mask_add"
    bl_label = "Add Mask"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        add_mask(context.scene.vggt, None)
        return {"FINISHED"}


class VGGT_OT_mask_remove(bpy.types.Operator):
    """Remove the active row from the Masks list (the Mask itself stays in the file)"""

    bl_idname = "vggt.mask_remove"
    bl_label = "Remove Mask"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and len(context.scene.vggt.masks) > 0

    def execute(self, context: bpy.types.Context) -> set[str]:
        props = context.scene.vggt
        props.masks.remove(min(props.masks_index, len(props.masks) - 1))
        props.masks_index = max(0, min(props.masks_index, len(props.masks) - 1))
        return {"FINISHED"}


class VGGT_OT_mask_from_rejected(setup_ops.RootPoll, bpy.types.Operator):
    """A new Mask around the tracks the solve rejected as moving (the red markers), animated over the shot and
    added to the panel's Masks: adjust it, then Re-solve"""

    bl_idname = "vggt.mask_from_rejected"
    bl_label = "Mask From Rejected Tracks"
    bl_options = {"REGISTER", "UNDO"}
    margin: FloatProperty(name="Margin", default=3.0, min=0.0, max=50.0, subtype="PERCENTAGE",
                          description="How far the outline reaches beyond the rejected tracks, in % of the plate width")
    link: FloatProperty(name="Grouping Distance", default=15.0, min=0.0, max=100.0, subtype="PERCENTAGE",
                        description="Rejected tracks closer than this (in % of the plate width) on some frame share "
                                    "one outline")

    def execute(self, context: bpy.types.Context) -> set[str]:
        col = _import_collection(setup_ops.find_root(context))
        clip = rejected_clip(col) if col is not None else None
        if clip is None:
            self.report({"ERROR"}, "This import has no rejected tracks: import with Tracks as Markers and "
                                   "Reject Moving Tracks on")
            return {"CANCELLED"}
        width = float(clip.size[0])
        mask = build_rejected_mask(col, clip, self.margin / 100.0 * width, self.link / 100.0 * width)
        add_mask(context.scene.vggt, mask)  # the artist's own Masks and rows stay: this one is new
        self.report({"INFO"}, f"VGGT: made Mask '{mask.name}' and added it to the Masks: adjust it, then Re-solve")
        return {"FINISHED"}


classes = (VGGT_OT_mask_add, VGGT_OT_mask_remove, VGGT_OT_mask_from_rejected)
