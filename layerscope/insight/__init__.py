"""Questions about a loaded image: waste, sharing, compare, path history, an entry's content,
export."""
