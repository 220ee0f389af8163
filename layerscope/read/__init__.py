"""Reading: the bytes of an archive -> layer indexes (tar, compression, sources, formats, config,
records, one layer, worker processes)."""
