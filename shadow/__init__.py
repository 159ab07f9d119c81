"""Shadow traffic: copies of live (or recorded) requests sent to a candidate, compared, stored, reported.

Pure core: ``rules`` (declarative diff rules), ``diff`` (JSON-aware comparison over
deepdiff), ``noise`` (primary-vs-secondary cancellation), ``side_effects``,
``aggregate``, ``evidence`` and ``report``. Adapters around it: ``sink`` (the
proxy's ShadowSink), ``worker`` and ``wiring`` (the comparator process a proxy runs),
``store`` (observations), ``dryrun`` (Django middleware for
candidates), ``replay`` (recorded traffic). Nothing here imports Django at import time.
"""
