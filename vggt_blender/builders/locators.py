"""Locators: the solved sparse points (``vggt_core.deliver.locators``) as empties an artist can snap to."""
from __future__ import annotations

from typing import TYPE_CHECKING

import bpy

from .datablocks import Ledger, new_object

if TYPE_CHECKING:
    from vggt_core import Reconstruction

LOCATOR_KEY = "vggt_locator"  # custom property: the sparse point's index


def build_locators(ledger: Ledger, recon: "Reconstruction", count: int, collection: bpy.types.Collection,
                   root: bpy.types.Object, name: str, size: float) -> list[bpy.types.Object]:
    """Up to ``count`` PLAIN_AXES empties at the chosen solved points, children of ``root`` (positions in
    the reconstruction's world, which the root turns Z-up), ``size`` world units across, named
    ``"<name> locator <point index>"``. None without solved points."""
    from vggt_core.deliver import select_locators

    objs = []
    for i in select_locators(recon, count).tolist():
        obj = new_object(ledger, f"{name} locator {i}", None, collection, parent=root)
        obj.location = [float(v) for v in recon.sparse_points[i]]
        obj.empty_display_type, obj.empty_display_size = "PLAIN_AXES", size
        obj[LOCATOR_KEY] = i
        objs.append(obj)
    return objs
