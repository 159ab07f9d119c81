"""Cutover plans: where each capability's migration stands, its transitions, its traffic record."""
