"""The model: layer indexes -> images, the union filesystem and every figure (with the caches,
and open/discover)."""
