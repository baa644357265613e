"""viam-billing built-in plugin: grpc (being built)."""
