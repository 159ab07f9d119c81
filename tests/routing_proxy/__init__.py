"""Tests of the routing proxy: route model, decisions, breaker and the data plane."""
