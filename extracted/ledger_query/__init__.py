"""Ledger query service: the read path of the wallet ledger, built from domain events.

Serves the legacy balance and transaction-history endpoints byte for byte, from
its own double-entry ledger in its own database. Layers:

- ``domain``     pure: a domain event -> the ledger effects it implies (no Django, no I/O)
- ``projector``  adapter: writes those effects with SQL inside the consumer's inbox transaction
- ``consume``    entry point: the Kafka consumer process (``python -m extracted.ledger_query.consume``)
- ``views``, ``auth``, ``wire``, ``sync``  the legacy HTTP contract on top of the ledger tables
"""
