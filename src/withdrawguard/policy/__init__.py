"""The packaged default detection policy (default.toml)."""
