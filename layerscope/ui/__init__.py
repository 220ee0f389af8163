"""The terminal UI (Textual): `layerscope.ui.app.run(names, ...)` opens archives and shows them."""
