"""The gateway's configuration (typed, validated at load) and user-typed times."""
