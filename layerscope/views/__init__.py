"""Row models for the UI, with no Textual: the file tree, its filter and outline, labels."""
