"""Recording legacy traffic with mitmproxy in reverse mode, secrets redacted, for replay in CI.

- ``redaction``: what is removed from recorded traffic (stdlib only)
- ``flowfile``: whole-record framing of ``.flow`` files, without mitmproxy (stdlib only)
- ``addon``: the mitmproxy addon (runs inside mitmdump)
- ``runtime``: which interpreter runs mitmproxy (this one, or a virtualenv of its own)
- ``session``: ``strangler capture``: checks, the mitmdump process, progress and a clean stop
- ``export``: reads a flow file with mitmproxy's FlowReader for ``strangler shadow replay``

Nothing here imports mitmproxy at import time except ``addon`` and ``export``, which
run in the mitmproxy interpreter.
"""
