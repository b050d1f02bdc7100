"""The `timebase` command line."""

import os

# gRPC core (grpcio's and pyarrow Flight's) prints its own INFO lines on stderr, e.g. for a TLS
# handshake that failed; the command already says what went wrong in one line. Set before either
# is imported; an explicit GRPC_VERBOSITY still wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
