"""The `timebase` command line."""
