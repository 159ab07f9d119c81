"""Notification dispatch (extracted, greenfield): domain events -> e-mail, SMS and push, per preferences."""
