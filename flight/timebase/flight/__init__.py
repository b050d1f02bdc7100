"""The Arrow Flight endpoint (bulk columnar reads and writes). Arrives with the Flight issue."""
