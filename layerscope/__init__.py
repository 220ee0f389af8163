"""layerscope: see inside saved container images — layers, hidden files, wasted bytes, sharing.

import layerscope
archive = layerscope.open("app.tar")
img = archive.images[0]
img.layers[2].changes, img.hidden, img.reclaimable_bytes
"""

from layerscope.errors import LayerscopeError
from layerscope.model.archive import Archive, discover, open
from layerscope.model.figures import Changes, Hidden
from layerscope.model.image import Image, Layer
from layerscope.version import __version__

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
