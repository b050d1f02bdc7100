"""The `timebase` command line."""

import os

# gRPC core (grpcio's and pyarrow Flight's) prints its own INFO lines on stderr, e.g. for a TLS
# handshake that failed; the command already says what went wrong in one line. Set before either
# is imported; an explicit GRPC_VERBOSITY still wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# Arrow's mimalloc pool commits its first arena eagerly: ≈ 13 MB of resident memory in a process
# that has not allocated an Arrow buffer yet (docs/profiles.md, "Memory"). Committed on demand
# instead; read when pyarrow is loaded, so set before it is; an explicit setting still wins.
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
