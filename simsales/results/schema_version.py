"""The version of simsales's table schemas and of its ``--json`` documents, kept apart from the
schemas (:mod:`simsales.results.tables`, :mod:`simsales.commands.schema`) so that reading it
imports nothing heavy. Change a table or a document and raise it."""

SCHEMA_VERSION = 1
