"""3D View > Sidebar > VGGT: source, frames, import options, Run / progress + Cancel, re-import."""
from __future__ import annotations

import bpy

from ..operators import export_ops, setup_ops
from ..runs import runs, sources, worker
from .props import run_state


class VGGT_UL_masks(bpy.types.UIList):
    """The panel's Masks: one Mask per row, picked in the row."""

    def draw_item(self, context: bpy.types.Context, layout: bpy.types.UILayout, data: object, item: object,
                  icon: int, active_data: object, active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        layout.prop(item, "mask", text="", icon="MOD_MASK")


class VGGT_PT_main(bpy.types.Panel):
    bl_label = "VGGT"
    bl_idname = "VGGT_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "VGGT"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        props = context.scene.vggt
        state = run_state(context)
        running = state.is_running or worker.is_busy()

        col = layout.column()
        col.enabled = not running
        col.prop(props, "source_type")
        if props.source_type == "FOLDER":
            col.prop(props, "folder")
        elif props.source_type == "CLIP":
            col.prop(props, "movie_clip")
        else:
            strip = _active_strip_name(context)
            col.label(text=f"Strip: {strip}" if strip else "No active strip", icon="SEQUENCE")

        box = col.box()
        box.label(text="Frames")
        row = box.row(align=True)
        row.prop(props, "stride")
        row.prop(props, "max_frames")
        if props.source_type != "STRIP":  # a strip's range is its trim
            row = box.row(align=True)
            row.prop(props, "frame_start")
            row.prop(props, "frame_end")
        if props.source_type != "FOLDER":
            box.prop(props, "fps")
        box.prop(props, "mode")
        row = box.row(align=True)
        row.prop(props, "chunk_size")
        row.prop(props, "overlap")

        box = col.box()
        box.label(text="Camera Solve")
        box.prop(props, "lens")
        if props.lens == "known":
            row = box.row(align=True)
            row.prop(props, "lens_focal_mm")
            row.prop(props, "lens_sensor_mm")
        box.prop(props, "refine")
        if props.refine:
            box.prop(props, "track_frames")
            box.prop(props, "track_refine")
            box.prop(props, "motion")
        if props.refine and props.lens != "per-frame":
            box.prop(props, "distortion")
        # What moves: out of the solve and the points, with or without refinement.
        box.label(text="Masks")
        row = box.row()
        row.template_list("VGGT_UL_masks", "", props, "masks", props, "masks_index", rows=2)
        buttons = row.column(align=True)
        buttons.operator("vggt.mask_add", icon="ADD", text="")
        buttons.operator("vggt.mask_remove", icon="REMOVE", text="")
        box.prop(props, "mask_path")
        box.prop(props, "mask_invert")
        box.prop(props, "mask_blank")
        if props.refine:
            box.prop(props, "reject_movers")
            box.prop(props, "track_markers")
        if props.refine and props.track_markers and props.lens != "per-frame":
            box.prop(props, "lens_to_my_clip")

        box = col.box()
        box.label(text="Import")
        box.prop(props, "import_cameras")
        row = box.row()
        row.prop(props, "import_animated_camera")
        sub = row.row()
        sub.enabled = props.import_animated_camera and props.refine and props.distortion != "none"
        sub.prop(props, "undistorted_plate")
        row = box.row()
        row.prop(props, "import_points")
        sub = row.row()
        sub.enabled = props.import_points
        sub.prop(props, "point_source", text="")
        if props.import_points:
            row = box.row(align=True)
            row.prop(props, "conf_percentile")
            row.prop(props, "max_points")
        row = box.row()
        row.prop(props, "import_proxies")
        sub = row.row()
        sub.enabled = props.import_proxies
        sub.prop(props, "proxy_every")
        sub.prop(props, "max_proxies")
        box.prop(props, "set_scene")
        row = box.row(align=True)
        row.prop(props, "frame_numbers")
        if props.frame_numbers == "START":
            row.prop(props, "frame_numbers_start", text="")

        if running:
            stage = state.stage or "Working..."
            if not state.is_running:
                stage = "Stopping the previous run..."
            if hasattr(layout, "progress"):  # UILayout.progress: Blender >= 4.0
                layout.progress(text=f"{stage} {state.progress:.0%}", factor=state.progress, type="BAR")
            else:
                layout.label(text=f"{stage} {state.progress:.0%}")
            if state.scene_name and state.scene_name != context.scene.name:
                layout.label(text=f"Importing into scene '{state.scene_name}'", icon="SCENE_DATA")
            layout.operator("vggt.cancel", icon="CANCEL")
        else:
            layout.operator("vggt.run", icon="PLAY")
        if state.last_message:
            layout.label(text=state.last_message)

        selected = runs.find_vggt_collection(context)
        for key, icon in (("vggt_solve_summary", "CON_CAMERASOLVER"), ("vggt_lens_warning", "ERROR")):
            if selected is not None and key in selected:
                layout.label(text=selected[key], icon=icon)
        graph = bpy.data.images.get(selected.get("vggt_solve_graph", "")) if selected is not None else None
        if graph is not None:  # the per-frame error graph (solve / held-out error, frames to check)
            layout.template_icon(icon_value=graph.preview_ensure().icon_id, scale=12.0)
        if selected is not None:
            layout.operator("vggt.reimport", icon="FILE_REFRESH", text=f"Re-import '{selected.name}' from Cache")
            layout.operator("vggt.resolve", icon="CON_CAMERASOLVER", text=f"Re-solve '{selected.name}'")
            layout.operator("vggt.mask_from_rejected", icon="MOD_MASK")  # around the red markers, for Re-solve
        setup_ops.draw_panel(layout, context)
        export_ops.draw_panel(layout, context)


def _active_strip_name(context: bpy.types.Context) -> str:
    strip = sources.active_strip(context)
    return "" if strip is None else f"{strip.name} ({strip.type.lower()})"


classes = (VGGT_UL_masks, VGGT_PT_main)
