"""Alembic migrations of the CRM database (run with ``crmflow migrate``)."""
