"""Audit, feedback and JWT replay store (SQLAlchemy)."""
