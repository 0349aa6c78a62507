"""CLI commands beyond validate/schema; each module has register(app)."""
