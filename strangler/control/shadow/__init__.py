"""Control-plane app ``shadow``: stored shadow observations, difference groups, samples, gate evidence."""
