"""A pytest plugin that imports one module with one change to its source: a mutant.

`TIMEBASE_MUTATION` holds JSON `{"module": ..., "old": ..., "new": ...}`; `old` must occur exactly
once in the module's source. Loaded with `-p tests.mutation.plugin` (before any conftest imports
the module), it changes nothing on disk, so other test processes are unaffected.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType

ENV = "TIMEBASE_MUTATION"


class MutationError(RuntimeError):
    """The mutation does not apply to the module's current source."""


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, old: str, new: str) -> None:
        super().__init__(fullname, path)
        self.old = old
        self.new = new

    def get_code(self, fullname: str) -> CodeType:
        source = Path(self.path).read_text(encoding="utf-8")
        count = source.count(self.old)
        if count != 1:
            raise MutationError(f"{self.path}: {self.old!r} occurs {count} times, expected once")
        mutated = source.replace(self.old, self.new)
        return compile(mutated, self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, old: str, new: str) -> None:
        self.module = module
        self.old = old
        self.new = new

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            raise MutationError(f"module {fullname} not found")
        spec.loader = _Loader(fullname, spec.origin, self.old, self.new)
        return spec


def _install() -> None:
    raw = os.environ.get(ENV)
    if not raw:
        return
    mutation = json.loads(raw)
    if mutation["module"] in sys.modules:
        raise MutationError(f"{mutation['module']} was imported before the mutation plugin")
    sys.meta_path.insert(0, _Finder(mutation["module"], mutation["old"], mutation["new"]))


_install()
