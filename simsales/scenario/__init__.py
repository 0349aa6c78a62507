"""The declarative scenario language: schema, distributions, calendar, rules, loading."""
