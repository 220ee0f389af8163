"""layerscope: see inside saved container images — layers, hidden files, wasted bytes, sharing.

import layerscope
archive = layerscope.open("app.tar")
img = archive.images[0]
img.layers[2].changes, img.hidden, img.reclaimable_bytes
"""

__version__ = "0.1.0"  # before the imports: modules below read it (figurecache, report)

from .archive import Archive, discover, open
from .errors import LayerscopeError
from .image import Changes, Hidden, Image, Layer

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
