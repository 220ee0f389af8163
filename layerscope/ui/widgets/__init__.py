"""The app's widgets: layer list, details panes, file tree."""
