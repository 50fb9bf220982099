"""nimplane: a Run:ai-compatible control plane for NVIDIA NIM services."""

__version__ = "0.1.0"
