"""Old import paths of moved modules, kept valid for one release.

``import heartgrpo.train.pipeline`` imports :mod:`heartgrpo.pipeline` and binds the *same* module
object under the old name, so attributes set through either name (a test's ``monkeypatch``) are
seen through both. No file stays at the old path.

    >>> import heartgrpo.train.pipeline as old, heartgrpo.pipeline as new
    >>> old is new
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

#: old module name -> where it lives now
MOVED: dict[str, str] = {
    "heartgrpo.train.pipeline": "heartgrpo.pipeline",
    "heartgrpo.train.judging": "heartgrpo.judge.factory",
    "heartgrpo.signal_study": "heartgrpo.signal.study",
    "heartgrpo.signal_data": "heartgrpo.signal.data",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name of :data:`MOVED` and loads it as the module at its new name."""

    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: D102
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType:  # noqa: D102
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the import system is about to overwrite it with ``spec``
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module at the new name is already executed); the import system has
        just set the module's ``__spec__`` to the old name's: give it back its own."""
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())  # before path and editable-install finders
