"""layerscope: see inside saved container images — layers, hidden files, wasted bytes, sharing.

import layerscope
archive = layerscope.open("app.tar")
img = archive.images[0]
img.layers[2].changes, img.hidden, img.reclaimable_bytes
"""

from .archive import Archive, discover, open
from .errors import LayerscopeError
from .image import Changes, Hidden, Image, Layer

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "Changes",
    "Hidden",
    "Image",
    "Layer",
    "LayerscopeError",
    "__version__",
    "discover",
    "open",
]
