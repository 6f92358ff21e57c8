"""digest: weekly newsletter digests from feeds."""

__version__ = "0.1.0"
