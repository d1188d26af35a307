"""The reference relay: relay-api.md implemented for real over HTTP, with simulated models."""
