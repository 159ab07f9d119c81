"""Several proxy instances side by side: two processes share one port with SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from strangler.stack.net import free_port
from tests.routing_proxy.helpers import Client, run, upstream


async def wait_listening(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(15):
        while True:
            line = await process.stdout.readline()
            if not line:
                raise AssertionError("proxy process exited before listening")
            if b"proxy.listening" in line:
                return


def test_two_instances_serve_one_port_with_so_reuseport(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text('version = 1\n[capabilities."ledger.history"]\nmode = "extracted"\n'
                      'routes = ["GET /api/v1/wallets/{id}/transactions/"]\n')

    async def scenario() -> None:
        port = free_port()
        async with upstream("monolith") as mono:
            processes = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "routing_proxy", str(routes), "--port", str(port),
                    "--monolith-url", mono.url, "--extracted-url", mono.url, "--reuse-port",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                for _ in range(2)
            ]
            try:
                for process in processes:
                    await wait_listening(process)
                instances: set[str] = set()
                for _ in range(64):  # the kernel spreads new connections over both sockets
                    client = await Client.connect(port)
                    response = await client.request("GET", "/api/v1/wallets/1/transactions/")
                    instances.update(response.echoed("X-Strangler-Instance"))
                    client.close()
                    if len(instances) == 2:
                        break
                assert len(instances) == 2
            finally:
                for process in processes:
                    process.terminate()
                    await process.wait()

    run(scenario, timeout=40)
