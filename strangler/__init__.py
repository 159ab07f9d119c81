"""strangler: strangle a legacy Django monolith into extracted services, with evidence."""

__version__ = "0.1.0"
