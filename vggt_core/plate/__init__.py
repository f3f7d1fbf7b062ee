"""What comes in: frames from folders and videos (numbered as Blender numbers them), their plate frame numbers,
preprocessing onto the model's canvas, colour transforms and masks. Names load on first use (PyAV, OpenImageIO
and Pillow are imported only when a frame is read), so the extension can import this before its dependencies
are installed."""
from __future__ import annotations

from .. import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".frames": ("FrameSelection", "Inputs", "list_frames", "iter_frames", "read_frames", "read_image",
                "IMAGE_EXTENSIONS", "OIIO_EXTENSIONS"),
    ".frame_numbers": ("file_number", "number_parts", "sequence_numbers", "shift_to_start",
                       "plate_frame_numbers", "interpolated_frames"),
    ".preprocess": ("plan", "plan_batch", "render", "preprocess", "valid_mask", "intrinsics_to_original",
                    "intrinsics_to_model", "pixels_to_original", "pixels_to_model", "MODES", "TARGET", "PATCH"),
    ".colour": ("srgb_to_linear", "linear_to_srgb", "SRGB8_TO_LINEAR"),
    ".masks": ("Masks", "load_mattes", "read_matte", "check_masks", "digest", "mask_pixels", "mask_to_model",
               "mask_observations"),
    ".video": ("open_video", "VideoTiming", "read_timing", "decode"),
})
