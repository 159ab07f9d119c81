"""The routing app of the control plane: capabilities, rules, versions, instances, audit, tokens."""
