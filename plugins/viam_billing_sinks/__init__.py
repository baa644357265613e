"""viam-billing built-in plugin: sinks (being built)."""
