"""Writing images: the slimmed image (`layerscope slim`), its plan made before any byte is
written (plan.py), its squashed layer (layertar.py), the formats it is written in
(imagefiles.py) and the destination it is written to (destination.py)."""
