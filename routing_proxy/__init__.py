"""routing_proxy: the route model, pure routing decisions and the data plane of strangler.

- ``routes``: capabilities, rules, modes, RouteTable, and the TOML route file
- ``decision``: pure matching, canary bucketing and the routing Decision
- ``dataplane``: the asyncio/uvloop/httptools reverse proxy (``ProxyServer``)
- ``app``: ``serve()``, the one wiring point of a proxy process
"""
