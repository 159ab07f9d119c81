"""Extracted services: each a Django + DRF project with its own PostgreSQL database."""
