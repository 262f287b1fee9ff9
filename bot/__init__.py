"""Channel adapters and entry points of Lapor Netral."""
