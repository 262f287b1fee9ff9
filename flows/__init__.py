"""The conversation logic, channel-agnostic: a step takes the saved state and one inbound
event and returns the new state, the replies and the domain events."""
