"""Keep dataframe libraries out of a process that never builds a DataFrame.

Where pandas is installed, pyarrow imports it the first time it converts Python objects
(`pa.array([...])`, `pa.scalar(...)`), only to check whether they are pandas objects; ADBC's
DB-API module imports polars as an optional result backend. In a process that never builds a
DataFrame that is about 50 MB (pandas) and 36 MB (polars) of resident memory for nothing
(docs/benchmarks.md). `refuse_imports()` makes importing them fail as if they were not
installed, so the libraries that treat them as optional carry on without them: the process
then behaves as in an environment without them (a `timebase[server]` install).

`timebase serve` calls it first thing (tests/cli/test_serve_imports.py checks the running
server's modules), and so do the bundled providers that use pyarrow only. A provider that needs
pandas (yahoo-finance: yfinance) imports it lazily, on its first fetch, instead.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["CLOUD_FILESYSTEMS", "DATAFRAME_LIBRARIES", "refuse_imports"]

DATAFRAME_LIBRARIES = ("pandas", "polars")
#: pyarrow's optional cloud filesystems. `Table.group_by` imports `pyarrow.acero`, which imports
#: `pyarrow.dataset` and `pyarrow.fs`, which loads each of these where built (S3 alone maps
#: `libarrow_s3`: ≈ 9 MB of resident memory); `pyarrow.fs` carries on without any it cannot
#: import. A process that reads no cloud storage refuses them.
CLOUD_FILESYSTEMS = ("pyarrow._s3fs", "pyarrow._gcsfs", "pyarrow._azurefs", "pyarrow._hdfs")


class _Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        name = top if top in self.names else fullname if fullname in self.names else None
        if name is not None:
            raise ModuleNotFoundError(
                f"{name} is not loaded in this process: it does not need it and keeps its "
                "memory for its work (timebase.sdk.lean)",
                name=fullname,
            )
        return None


def refuse_imports(names: Sequence[str] = DATAFRAME_LIBRARIES) -> list[str]:
    """From now on, importing any of `names` in this process raises ModuleNotFoundError: a
    top-level name with its submodules (`pandas`), or one module (`pyarrow._s3fs`).

    Returns the names refused; one already imported is not (it is too late to keep it out).
    """
    refused = [name for name in names if name not in sys.modules]
    if refused and not any(isinstance(f, _Refuse) for f in sys.meta_path):
        sys.meta_path.insert(0, _Refuse(refused))
    return refused
