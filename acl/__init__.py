"""Anti-corruption layer: capture every legacy write, translate it into clean domain events, relay to Kafka.

Layers (imports only point down):

    entry points   install.install(), django.CorrelationMiddleware, relay.PythonRelay,
                   consumer.EventConsumer, backfill.backfill(), ops.tail()/replay()
    adapters       adapters/pg_outbox.py, adapters/kafka_publisher.py, adapters/pg_inbox.py, adapters/fakes.py
    ports          ports.py (OutboxStore, Publisher, InboxStore, Relay)
    pure core      spec.py, domain.py, translators.py, contracts.py, envelope.py (no Django, no I/O)
"""
