"""The Kubernetes backend: NIM services as the NIM Operator's `NIMService` objects."""
