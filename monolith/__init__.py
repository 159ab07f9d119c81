"""PayStream: the legacy payments monolith that strangler wraps.

Legacy on purpose: integer paise, integer status codes, a denormalised
balance column, fat models and signals, inline webhook and notification
calls, reports on the OLTP database. The toolkit wraps it; it is not
rewritten. New code around it lives in acl/, extracted/, routing_proxy/...
"""
