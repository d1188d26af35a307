"""Shared fixtures. Expensive real parts (relay, MLflow store, mlflow server) start once per
session in the plugin modules below and are always stopped."""

pytest_plugins = [
    "fixtures.relay",
    "fixtures.registry",
    "fixtures.terminal",
    "fixtures.hostile",
]
