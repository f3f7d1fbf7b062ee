"""Subprocess half of test_zip_install.py: install the extension zip into a fresh Blender user folder.

Usage: python zip_install_probe.py ZIP RESOURCES_DIR [--images IMAGES_DIR] [--video VIDEO]
BLENDER_USER_RESOURCES must point at RESOURCES_DIR before bpy is imported (set by the caller's env).
The repository's editable vggt_core is hidden so that the copy from the extension's wheel is the one
imported. Prints one JSON line prefixed with "PROBE:". With --images (and VGGT_WEIGHTS set), it
also runs the reconstruction operator on that folder and reports what it created; with --video, it
decodes the video with the bundled vggt_core and PyAV.
"""

import argparse
import json
import sys

# Hide the editable install of vggt_core (a meta-path finder added by a .pth file).
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")
                    and "__editable__" not in type(f).__module__]

import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES and the path clean-up)

parser = argparse.ArgumentParser()
parser.add_argument("zip")
parser.add_argument("resources")
parser.add_argument("--images")
parser.add_argument("--video")
args = parser.parse_args()
out: dict = {}
result = bpy.ops.extensions.package_install_files(filepath=args.zip, repo="user_default", enable_on_install=True)
# In Blender only the extension's wheels provide PyAV & co.; here the venv has its own copies, so the
# folder Blender installed the wheels into (under RESOURCES_DIR) goes first.
wheel_dirs = [p for p in sys.path if p.startswith(args.resources) and p.endswith("site-packages")]
sys.path[:0] = wheel_dirs
out["wheel_dirs"] = wheel_dirs
out["install_result"] = sorted(result)
out["enabled"] = sorted(a for a in bpy.context.preferences.addons.keys() if a.startswith("bl_ext."))
out["operator_classes"] = sorted(n for n in dir(bpy.types) if n.startswith("VGGT_OT_"))

import vggt_core  # noqa: E402
from bl_ext.user_default.vggt_blender import deps  # noqa: E402  (the packaged copy of install/deps.py)

out["vggt_core_file"] = vggt_core.__file__
out["deps_requirements"] = deps.requirements()
from bl_ext.user_default.vggt_blender import dependencies  # noqa: E402

out["gpu_variant"] = dependencies.torch_variant("gpu")  # through the packaged deps.variant_for

if args.video:
    import av  # noqa: E402

    from vggt_core.plate.frames import list_frames, read_frames  # noqa: E402

    out["av_file"] = av.__file__
    frames = read_frames(list_frames(args.video))
    out["video_frames"] = len(frames)
    out["video_shape"] = list(frames[0].shape)

if args.images:
    props = bpy.context.scene.vggt
    props.source_type, props.folder, props.max_frames = "FOLDER", args.images, 0
    before = {o.name for o in bpy.data.objects}
    out["run_result"] = sorted(bpy.ops.vggt.run())
    out["last_message"] = bpy.context.window_manager.vggt_run.last_message
    new = [o for o in bpy.data.objects if o.name not in before]
    out["cameras"] = sum(o.type == "CAMERA" for o in new)
    out["mesh_vertices"] = {o.name: len(o.data.vertices) for o in new if o.type == "MESH"}
print("PROBE:" + json.dumps(out), flush=True)
