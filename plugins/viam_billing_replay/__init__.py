"""viam-billing built-in plugin: replay (being built)."""
