"""Span storage: the protocol every backend implements, and the SQLite and PostgreSQL backends."""
