"""vggt_core: photos or a video plate -> cameras, depth, points and a camera solve, with no Blender in it.

The package is laid out the way the data flows:

* ``plate/``: what comes in (image folders, videos, frame numbers, preprocessing, colour, masks);
* ``network/``: VGGT itself (layers, heads, models), its weights and the ``Engine`` that runs it;
* ``solve/``: the camera solve (lens, tracks, triangulation, bundle adjustment, verdict, report);
* ``stitch/``: long shots' chunks brought into one world;
* ``deliver/``: what goes out (COLMAP, PLY, GLB, the lens package, locators, point selection);
* ``run/``: the run on top (pipeline, cache, batch, both command lines' options);
* at the top, the contract (``reconstruction``), the fields derived from it, shared geometry and errors.

The names below are the public API. Importing this package imports neither torch nor any stage: each name is
resolved on first use (``from vggt_core import reconstruct_frames`` loads ``run.pipeline`` then)::

    from vggt_core import Engine, FrameSelection, ReconstructSettings, reconstruct, write_colmap_dataset

    engine = Engine("facebook/VGGT-1B")                      # or a local .safetensors; loaded on first use
    settings = ReconstructSettings(selection=FrameSelection(max_frames=32))       # solves by default (lens auto)
    recon = reconstruct("plate/", settings, engine, cache_dir="vggt_cache")   # a folder of frames, or a video
    recon.extrinsics                                          # [S,3,4] camera-from-world, OpenCV axes
    print(recon.solve["verdict"] if recon.solve else "no solve")
    write_colmap_dataset("out/colmap", recon)

The camera solve on its own is ``vggt_core.solve.solve`` (``from vggt_core.solve import solve``).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__version__ = "0.1.0"


def lazy_exports(package: str, table: Mapping[str, Iterable[str]], modules: Iterable[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for a package whose public names load on first use (PEP 562).

    table: submodule (relative, e.g. ``".frames"``) -> the public names it defines; modules: submodules that are
    public as modules (``from vggt_core.run import cache``; the import system finds those itself).
    """
    where = {name: module for module, names in table.items() for name in names}
    public = sorted([*where, *modules])

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this function
        return value

    return __getattr__, lambda: public, public


__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".reconstruction": ("Reconstruction", "FrameInfo", "Lens", "PreprocessRecord"),
    ".errors": ("VGGTError", "InputError", "WeightsError", "CacheError", "Cancelled", "OutOfMemoryError", "one_line"),
    ".plate.frames": ("list_frames", "iter_frames", "FrameSelection"),
    ".geometry": ("unproject_depth_map_to_point_map", "closed_form_inverse_se3", "pose_encoding_to_extri_intri"),
    ".network.engine": ("Engine",),
    ".network.weights": ("load_model", "save_checkpoint"),
    ".network.models.vggt": ("VGGT", "VGGTConfig"),
    ".run.pipeline": ("DEFAULTS", "ReconstructSettings", "reconstruct", "reconstruct_frames"),
    ".deliver.points": ("select_points", "PointSet"),
    ".deliver.colmap": ("write_colmap_dataset",),
    ".deliver.ply": ("write_ply",),
    ".deliver.glb": ("write_points_glb",),
    ".deliver.lens_package": ("ShotLens", "LensPackage", "shot_lens", "export_lens", "write_lens_package",
                              "write_undistorted_plate"),
})
__all__ += ["__version__", "lazy_exports"]
