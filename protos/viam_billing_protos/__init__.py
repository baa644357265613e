"""Our .proto files compiled for a private descriptor pool, and the codec to and from viam_billing models."""
