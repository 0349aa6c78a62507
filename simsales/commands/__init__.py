"""CLI commands beyond validate/schema: module-level functions that register(app) adds."""
