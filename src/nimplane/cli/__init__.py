"""The `nimplane` command line."""
