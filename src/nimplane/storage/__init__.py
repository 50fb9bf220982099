"""The SQLAlchemy adapter: SQLite by default, PostgreSQL when several replicas share the work."""
