"""Enabling/disabling the extension: repeated register cycles, and enabling before PyTorch exists."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

import vggt_blender  # noqa: E402

CLASSES = ("VGGTPreferences", "VGGTMaskSlot", "VGGTSceneProps", "VGGTRunState", "VGGT_OT_run", "VGGT_OT_cancel",
           "VGGT_OT_reimport", "VGGT_OT_unload_model", "VGGT_OT_install_dependencies", "VGGT_OT_mask_add",
           "VGGT_UL_masks", "VGGT_PT_main")


def _registered() -> list[str]:
    classes = {cls.__name__: cls for cls in vggt_blender._classes}
    return [name for name in CLASSES if classes[name].is_registered]


def test_register_unregister_three_times():
    from vggt_blender import dependencies

    assert _registered() == []
    for _ in range(3):
        vggt_blender.register()
        assert _registered() == list(CLASSES)
        assert bpy.context.scene.vggt.source_type == "FOLDER"
        assert sys.path.count(dependencies.deps_dir()) == 1
        assert vggt_blender._cli_handle is not None
        vggt_blender.unregister()
        assert _registered() == []
        assert not hasattr(bpy.types.Scene, "vggt") and not hasattr(bpy.types.WindowManager, "vggt_run")
        assert dependencies.deps_dir() not in sys.path
        assert vggt_blender._cli_handle is None


# Runs in a fresh interpreter where `import torch` fails, as in a Blender without the dependencies.
PROBE = textwrap.dedent("""
    import json, sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    sys.path.insert(0, REPO)
    import bpy
    import addon_utils

    class Layout:
        '''Stands in for UILayout: checks every property/operator a draw() names, records labels.'''
        def __init__(self, log): self.log, self.enabled = log, True
        def column(self, **kw): return self
        row = box = column
        def label(self, text="", **kw): self.log.append(text)
        def progress(self, text="", **kw): self.log.append(text)
        def prop(self, data, name, **kw):
            assert name in data.bl_rna.properties, name
        def template_list(self, list_type, list_id, data, name, active_data, active_name, **kw):
            assert hasattr(bpy.types, list_type), list_type
            assert name in data.bl_rna.properties and active_name in active_data.bl_rna.properties, name
        def operator(self, idname, **kw):
            mod, op = idname.split(".")
            assert hasattr(bpy.types, f"{mod.upper()}_OT_{op}"), idname
            return type("OpProps", (), {})()

    class Drawn:
        def __init__(self, real, log): self._real, self.layout = real, Layout(log)
        def __getattr__(self, name): return getattr(self._real, name)

    out = {}
    for i in range(3):
        addon_utils.enable("vggt_blender", default_set=True, handle_error=lambda e: (_ for _ in ()).throw(e))
        out[f"enabled_{i}"] = hasattr(bpy.types, "VGGT_OT_run")
        addon_utils.disable("vggt_blender", default_set=True)
    addon_utils.enable("vggt_blender", default_set=True)
    prefs = bpy.context.preferences.addons["vggt_blender"].preferences
    log = []
    type(prefs).draw(Drawn(prefs, log), bpy.context)
    out["prefs_labels"] = log
    from vggt_blender.ui.panel import VGGT_PT_main
    log = []
    VGGT_PT_main.draw(Drawn(None, log), bpy.context)
    from vggt_blender.ui.panel import VGGT_UL_masks
    props = bpy.context.scene.vggt
    VGGT_UL_masks.draw_item(None, bpy.context, Layout(log), props, props.masks.add(), 0, props, "masks_index")
    props.masks.clear()
    out["panel_labels"] = log
    from vggt_blender.command_line import cli
    out["cli_bad_args"] = cli.main(["--bogus"])
    bpy.context.scene.vggt.folder = IMAGES
    try:
        bpy.ops.vggt.run()
        out["run_error"] = None
    except RuntimeError as err:
        out["run_error"] = str(err)
    out["torch_imported"] = sys.modules.get("torch") is not None
    addon_utils.disable("vggt_blender", default_set=True)  # the bpy 4.2 module crashes at exit otherwise
    print("PROBE:" + json.dumps(out))
""")


def test_enables_and_draws_without_torch(tmp_path):
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(tmp_path / "imgs" / "a.png")
    script = tmp_path / "probe.py"
    script.write_text(f"REPO = {str(REPO)!r}\nIMAGES = {str(tmp_path / 'imgs')!r}\n" + PROBE)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "res"))
    env.pop("VGGT_WEIGHTS", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE:")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(lines[0][len("PROBE:"):])
    assert [out[f"enabled_{i}"] for i in range(3)] == [True] * 3
    assert "PyTorch is not installed" in out["prefs_labels"]
    assert "No model loaded" in out["prefs_labels"]
    assert any("Online access is off" in text for text in out["prefs_labels"])
    assert out["cli_bad_args"] == 2
    # Running without torch is a one-line, actionable error, not a crash.
    assert out["run_error"] is not None and "Install Dependencies" in out["run_error"]
    assert "\n" not in out["run_error"].strip()
    assert out["torch_imported"] is False
