"""The data plane: a lean HTTP/1.1 reverse proxy on asyncio + uvloop + httptools.

``server.ProxyServer`` is the entry point; ``behaviours.Behaviours`` lists every
per-request behaviour in one place.
"""
