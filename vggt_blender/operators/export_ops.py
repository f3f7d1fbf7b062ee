"""The export operators (settings -> a ``deliver`` call -> report): the animated camera, the lens package, the
redistort scene, GLB points and COLMAP, each writing through ``vggt_blender.deliver``."""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, StringProperty

from ..deliver.camera import export_camera
from ..deliver.lens import export_lens, redistort_scene
from ..deliver.points import export_colmap, export_points_glb
from . import setup_ops


class _ExportOperator(setup_ops.RootPoll, bpy.types.Operator):
    bl_options = {"REGISTER"}
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def write(self, context: bpy.types.Context, root: bpy.types.Object) -> str:
        raise NotImplementedError

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            path = self.write(context, setup_ops.find_root(context))
        except (ValueError, OSError, RuntimeError) as err:  # RuntimeError: a Blender exporter failed
            self.report({"ERROR"}, str(err).strip().splitlines()[-1])
            return {"CANCELLED"}
        self.report({"INFO"}, f"VGGT: wrote {path}")
        return {"FINISHED"}


class VGGT_OT_export_camera(_ExportOperator):
    """Export the animated camera: Alembic (.abc), USD (.usd/.usda/.usdc), FBX (.fbx), Nuke (.chan) or a Nuke QC
    script (.nk), by the file name's extension; its lens package goes beside it"""

    bl_idname = "vggt.export_camera"
    bl_label = "Export Camera"
    filter_glob: StringProperty(default="*.abc;*.usd;*.usda;*.usdc;*.fbx;*.chan;*.nk", options={"HIDDEN"})
    bake_world: BoolProperty(name="Bake to World", default=True,
                             description="One camera with no parent, keyed at every frame with its world transform")
    with_points: BoolProperty(name="Point Cloud", default=False)
    with_proxies: BoolProperty(name="Depth Proxies", default=False)
    with_locators: BoolProperty(name="Locators", default=True, description="The solved points' locator empties")

    def write(self, context, root):
        return export_camera(context, root, self.filepath, self.bake_world, self.with_points, self.with_proxies,
                             self.with_locators)


class VGGT_OT_export_points(_ExportOperator):
    """Export the coloured point cloud as a GLB file (glTF points, Y up)"""

    bl_idname = "vggt.export_points"
    bl_label = "Export Points (GLB)"
    filter_glob: StringProperty(default="*.glb", options={"HIDDEN"})

    def write(self, context, root):
        return export_points_glb(root, self.filepath)


class VGGT_OT_export_lens(_ExportOperator):
    """Write the lens package: lens.json (model, values, overscan) and Nuke STMap EXRs to undistort the plate and
    redistort CG, from the import's cache (identity without solved distortion)"""

    bl_idname = "vggt.export_lens"
    bl_label = "Export Lens"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})
    undistort_plate: BoolProperty(name="Undistorted Plate", default=False,
                                  description="Also the undistorted plate as an image sequence (undistorted/)")

    def write(self, context, root):
        files = export_lens(root, self.directory or self.filepath, plate=self.undistort_plate)
        return os.path.dirname(files[0])


class VGGT_OT_redistort_scene(_ExportOperator):
    """Write the lens package and add a plate-sized scene whose compositor renders this scene through the camera
    and redistorts it onto the plate's lens (render that scene for CG that lies over the original plate)"""

    bl_idname = "vggt.redistort_scene"
    bl_label = "Redistort Scene"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})

    def write(self, context, root):
        out = redistort_scene(context, root, self.directory or self.filepath)
        return f"scene '{out.name}' (ST-maps in {out['vggt_redistort']})"


class VGGT_OT_export_colmap(_ExportOperator):
    """Write a COLMAP dataset (images/ and sparse/0/) from the import's cache, in the scene's world"""

    bl_idname = "vggt.export_colmap"
    bl_label = "Export COLMAP"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})

    def write(self, context, root):
        return export_colmap(root, self.directory or self.filepath)


def draw_panel(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The panel's "Export" box (only when an import is selected)."""
    if setup_ops.find_root(context) is None:
        return
    box = layout.box()
    box.label(text="Export")
    row = box.row(align=True)
    row.operator(VGGT_OT_export_camera.bl_idname, text="Camera", icon="CAMERA_DATA")
    row.operator(VGGT_OT_export_points.bl_idname, text="Points", icon="POINTCLOUD_DATA")
    row.operator(VGGT_OT_export_colmap.bl_idname, text="COLMAP", icon="FILE_FOLDER")
    row.operator(VGGT_OT_export_lens.bl_idname, text="Lens", icon="IMAGE_DATA")
    box.operator(VGGT_OT_redistort_scene.bl_idname, text="Redistort Scene", icon="SCENE_DATA")
    box.operator("vggt.render_qc", icon="RENDER_ANIMATION")  # qc_ops.VGGT_OT_render_qc


classes = (VGGT_OT_export_camera, VGGT_OT_export_points, VGGT_OT_export_colmap, VGGT_OT_export_lens,
           VGGT_OT_redistort_scene)
