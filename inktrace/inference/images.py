"""Images in, grayscale arrays out: float32 in [0, 1], dark ink on light paper.

:func:`load_image` reads any file Pillow reads (PNG, JPEG, TIFF, BMP, ...) in any mode, upright
(EXIF orientation applied) and from its first frame. :func:`to_gray` turns arrays into the same
form, with the value rules of ``InkTraceNet.predict`` (inktrace/pixels.py). Rules, per
mode:

- ``1`` (bilevel), ``L`` (8-bit), ``I;16`` (16-bit, /65535), ``I`` (32-bit integers: /65535 when
  they fit in 16 bits, as 16-bit PNGs do, else /(2**31 - 1); negative values are refused), ``F``
  (floats, used as they are, which must be in [0, 1]);
- colour (``RGB``, ``P``, ``CMYK``, ``YCbCr`` ...): luma ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601,
  as Pillow's ``convert("L")``) computed in floats;
- transparency (``RGBA``, ``LA``, ``PA``, palette transparency): composited on white paper, so a
  transparent pixel is paper.

Every failure is an :class:`ImageError` whose message is one line naming the file.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError
from ..pixels import as_array, gray_values

__all__ = ["ImageError", "load_image", "image_size", "to_gray", "LUMA", "DEFAULT_MAX_PIXELS"]

LUMA = (0.299, 0.587, 0.114)
# comfortably above an A4 page at 600 dpi (4961 x 7016 = 34.8 Mpx)
DEFAULT_MAX_PIXELS = 50_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def to_gray(array: Any, name: str = "image") -> np.ndarray:
    """A float32 (H, W) array in [0, 1] from an (H, W) gray, (H, W, 2) gray + alpha, (H, W, 3)
    RGB or (H, W, 4) RGBA array or tensor, its values as ``InkTraceNet.predict`` takes them
    (inktrace/pixels.py: uint8 /255, uint16 /65535, bool, or floats in [0, 1])."""
    try:
        a = as_array(array, name)  # an array, or a tensor's
    except ImageError:
        a = np.asarray(array)  # a nested list
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (2, 3, 4)):
        raise ImageError(
            f"{name}: expected (H, W) gray or (H, W, 2|3|4) gray+alpha/RGB/RGBA, got {a.shape}"
        )
    if 0 in a.shape[:2]:
        raise ImageError(f"{name}: empty image ({a.shape[0]}x{a.shape[1]} pixels)")
    x = gray_values(a, name)
    if x.ndim == 2:
        return np.ascontiguousarray(x)
    alpha = x[..., -1] if x.shape[-1] in (2, 4) else None
    colour = x[..., : 3 if x.shape[-1] >= 3 else 1]
    if colour.shape[-1] == 3:
        gray = colour[..., 0] * LUMA[0] + colour[..., 1] * LUMA[1] + colour[..., 2] * LUMA[2]
    else:
        gray = colour[..., 0]
    if alpha is not None:  # on white paper: transparent is paper
        gray = gray * alpha + (1.0 - alpha)
    return np.ascontiguousarray(np.clip(gray, 0.0, 1.0), dtype=np.float32)


def _pixels(image: Image.Image, name: str) -> np.ndarray:
    """The pixels of a Pillow image as an array ``to_gray`` takes."""
    mode = image.mode
    if mode == "1":
        return np.asarray(image, dtype=bool)
    if mode in ("P", "PA") or (mode in ("L", "RGB") and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))  # palette colours, transparent colour or index
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)  # any byte order
    if mode == "I":
        values = np.asarray(image, dtype=np.int64)
        if values.min() < 0:
            raise ImageError(f"{name}: 32-bit image with negative values")
        top = 65535.0 if values.max() <= 65535 else float(2**31 - 1)
        return (values / top).astype(np.float32)
    if mode == "F":
        return np.asarray(image, dtype=np.float32)
    if mode in ("La", "RGBa"):
        return np.asarray(image.convert("RGBA" if mode == "RGBa" else "LA"))
    return np.asarray(image.convert("RGB"))


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG header, or None when the file is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _unreadable(path: Path) -> str:
    """Why Pillow could not identify a file."""
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    size = _png_size(path)
    if size is not None and 0 in size:
        return f"empty image ({size[0]}x{size[1]} pixels)"
    return "not an image (or a format Pillow cannot read)"


def _check_file(path: Path, name: str) -> None:
    """A regular file, or an ImageError saying what it is: a FIFO or a device is never opened
    (reading one can block for ever), a symlink loop is one line."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:  # ELOOP (a symlink loop), EACCES on a folder above, ...
        raise ImageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ImageError(f"{name}: is a directory, not an image")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket or device"
        raise ImageError(f"{name}: is {kind}, not a regular file")


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) of an image file from its header alone (nothing decoded), or None when it
    is not a regular file Pillow can identify (load_image then says why, in one line)."""
    path = Path(path)
    try:
        _check_file(path, str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return int(image.width), int(image.height)
    except (ImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None


MIN_SIDE = 64  # px: the network works on at least this much of a side (pipeline.FRAME_MIN)


def _too_large(name: str, width: int, height: int, max_pixels: int | None) -> str | None:
    """The refusal of an image over ``max_pixels``, counting each side as at least
    ``MIN_SIDE`` px: a 1 x 1,000,000 px strip costs the network what 64 x 1,000,000 px do (it
    took 70 s at 1 x 200,000 px, so the pixel count alone did not bound the time)."""
    counted = max(width, MIN_SIDE) * max(height, MIN_SIDE)
    if max_pixels is None or counted <= max_pixels:
        return None
    padded = (
        ""
        if counted == width * height
        else f", counted as {counted} (sides of {MIN_SIDE} px or more)"
    )
    return (
        f"{name}: {width}x{height} pixels{padded} is more than --max-pixels {max_pixels} "
        "(decided from the header; raise --max-pixels to trace it)"
    )


def size_refusal(path: str | os.PathLike, max_pixels: int | None) -> str | None:
    """The one-line refusal load_image would give an image file with more than ``max_pixels``
    pixels, from its header alone (milliseconds, before any model is loaded); None otherwise
    (also when the header cannot be read: load_image then says why)."""
    size = image_size(path)
    return None if size is None else _too_large(str(Path(path)), size[0], size[1], max_pixels)


def load_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at ``path`` as a float32 (H, W) array in [0, 1], dark ink on light paper (see the
    module docstring); an :class:`ImageError` naming the file if it cannot be read, or if it has
    more than ``max_pixels`` pixels (None: no limit), decided from its header before decoding."""
    path = Path(path)
    name = str(path)
    _check_file(path, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # asked for: fine
            with Image.open(path) as image:
                if 0 in image.size:
                    raise ImageError(f"{name}: empty image ({image.width}x{image.height} pixels)")
                refusal = _too_large(name, image.width, image.height, max_pixels)
                if refusal:
                    raise ImageError(refusal)
                image.seek(0)
                upright = ImageOps.exif_transpose(image)
                upright.load()
                pixels = _pixels(upright, name)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: {_unreadable(path)}") from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"{name}: too large for Pillow's decompression-bomb guard "
            f"(more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels; "
            "raise PIL.Image.MAX_IMAGE_PIXELS)"
        ) from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageError(f"{name}: cannot read the image ({reason})") from None
    return to_gray(pixels, name)
