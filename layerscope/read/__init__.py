"""Reading: bytes of an archive -> layer indexes (tar, compression, sources, formats, config, records, one layer, workers)."""
