"""The app's screens: the main browser and the key help."""
