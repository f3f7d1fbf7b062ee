"""Add-on preferences: which weights, which device and precision, the dependency installer, the model
download and the result cache (``cache_ops``). Runs read them through ``addon``."""
from __future__ import annotations

import importlib.util
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from .. import addon, dependencies
from ..operators import cache_ops
from ..runs import worker

MODEL_SOURCES = [
    (addon.DEFAULT_MODEL, "VGGT-1B",
     "facebook/VGGT-1B from Hugging Face (about 5 GB). Non-commercial licence: research and personal use only"),
    ("facebook/VGGT-1B-Commercial", "VGGT-1B Commercial",
     "facebook/VGGT-1B-Commercial: allows commercial use under the VGGT License; gated, so accept the licence "
     "on its Hugging Face page and enter an access token"),
    ("LOCAL", "Local File", "A checkpoint file on disk (.safetensors, .pt or .pth)"),
]
DEVICES = [
    ("auto", "Auto", "CUDA if available, else Apple MPS, else CPU"),
    ("cuda", "CUDA", "NVIDIA GPU"),
    ("mps", "MPS", "Apple silicon GPU"),
    ("cpu", "CPU", "Slow, but always works"),
]
PRECISIONS = [
    ("auto", "Auto", "bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU"),
    ("bf16", "bf16", "bfloat16 mixed precision (GPUs with compute capability >= 8)"),
    ("fp16", "fp16", "float16 mixed precision"),
    ("fp32", "fp32", "Full precision (most memory)"),
]


class VGGTPreferences(bpy.types.AddonPreferences):
    bl_idname = addon.ADDON_ID

    model_source: EnumProperty(name="Model", items=MODEL_SOURCES, default=addon.DEFAULT_MODEL)
    hf_token: StringProperty(name="Hugging Face Token", subtype="PASSWORD",
                             description="Access token for the gated commercial model (empty: use the saved login)")
    local_checkpoint: StringProperty(name="Checkpoint", subtype="FILE_PATH",
                                     description="Local .safetensors/.pt/.pth checkpoint")
    device: EnumProperty(name="Device", items=DEVICES, default="auto")
    precision: EnumProperty(name="Precision", items=PRECISIONS, default="auto")
    cache_results: BoolProperty(
        name="Cache Results", default=True,
        description="Keep each run's result (about 4 MB per frame) in the cache folder, so the same run again "
                    "loads instantly and Re-import from Cache works")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "model_source")
        if self.model_source == "facebook/VGGT-1B-Commercial":
            col.prop(self, "hf_token")
        elif self.model_source == "LOCAL":
            col.prop(self, "local_checkpoint")
        if os.environ.get("VGGT_WEIGHTS"):
            col.label(text=f"VGGT_WEIGHTS is set and overrides this: {os.environ['VGGT_WEIGHTS']}", icon="INFO")
        if not bpy.app.online_access:
            col.label(text="Online access is off: only already-downloaded or local weights can be used", icon="INFO")
        row = col.row()
        row.prop(self, "device")
        row.prop(self, "precision")

        box = layout.box()
        if not torch_installed():
            box.label(text="PyTorch is not installed", icon="ERROR")
        else:
            box.label(text="PyTorch is installed", icon="CHECKMARK")
        state = dependencies.state()
        if state.running:
            box.progress(text=state.stage or "Installing...", factor=state.fraction, type="BAR")
        else:
            row = box.row()
            row.operator("vggt.install_dependencies", text="Install Dependencies (CPU)").build = "cpu"
            row.operator("vggt.install_dependencies", text="Install Dependencies (GPU)").build = "gpu"
            if state.message:
                box.label(text=state.message, icon="ERROR" if state.failed else "INFO")
        box.label(text=f"Folder: {dependencies.deps_dir()}")

        row = layout.row()
        loaded = worker.loaded_model()
        row.label(text=f"Loaded model: {loaded}" if loaded else "No model loaded")
        row.operator("vggt.unload_model", icon="X")
        cache_ops.draw_preferences(layout, self)


def torch_installed() -> bool:
    """Whether ``import torch`` can work, without importing it (that takes seconds)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["torch"] is None (import blocked)
        return False


classes = (VGGTPreferences,)
