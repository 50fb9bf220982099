"""The pure domain: rules about NIM services with no I/O, no web framework and no database."""
