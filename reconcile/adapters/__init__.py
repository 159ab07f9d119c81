"""Adapters between the pure reconciliation core and real databases."""
