"""Cluster backends: where NIM services run (the simulated GPU cluster, later Kubernetes)."""
