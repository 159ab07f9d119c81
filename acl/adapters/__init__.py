"""Adapters around the pure core: PostgreSQL (psycopg 3) and Kafka (confluent-kafka), plus their fakes."""
