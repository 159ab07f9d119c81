"""The control plane: routes, flags, gates and the audit log, in their own PostgreSQL database.

A Django project (settings ``strangler.control.settings``) whose apps live under
``strangler.control``. The CLI, the DRF API and the admin all change state through
``strangler.control.routing.services``; proxies only read what it publishes.
"""
