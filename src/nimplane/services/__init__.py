"""Use cases: each function owns one transaction and depends only on the domain and its ports."""
