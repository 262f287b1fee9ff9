"""What staff do: the focal-point desk, roles, staff commands, registering focal points."""
