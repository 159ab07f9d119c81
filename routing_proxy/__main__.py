"""``python -m routing_proxy``: run one proxy instance (see ``routing_proxy.app``)."""

from routing_proxy.app import main

main()
