"""Background loops of the server: they run use cases on a period or when woken, nothing more."""
