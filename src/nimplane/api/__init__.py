"""The FastAPI adapter: Run:ai's wire shapes, routes, the error table and the app factory."""
