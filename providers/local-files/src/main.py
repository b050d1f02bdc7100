"""Entry point of the local-files provider add-on: `python src/main.py`."""

from __future__ import annotations

from local_files_provider import LocalFilesProvider

from timebase.sdk import serve

if __name__ == "__main__":
    serve(LocalFilesProvider)
