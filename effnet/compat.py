"""Module paths of effnet 0.1 that moved when the package was laid out by layer.

``import effnet.weights`` (and every other path in :data:`MOVED`) still works and gives the
names that module had, with a ``DeprecationWarning`` naming the new home. A path that moved
whole is the new module itself (so monkeypatching it patches the real one); a module that was
split looks each name up in its new homes in turn.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from typing import Any

#: old module -> the modules its names live in now (in lookup order).
MOVED: dict[str, tuple[str, ...]] = {
    "effnet.spec": ("effnet.models.spec",),
    "effnet.plan": ("effnet.models.plan",),
    "effnet.layers": ("effnet.models.layers",),
    "effnet.blocks": ("effnet.models.blocks",),
    "effnet.lean": ("effnet.models.lean",),
    "effnet.model": ("effnet.models.network",),
    "effnet.zoo": ("effnet.models.zoo",),
    "effnet.registry": ("effnet.models.registry", "effnet.models.create"),
    "effnet.weights": ("effnet.models.weights", "effnet.models.convert"),
    "effnet.class_names": ("effnet.models.class_names",),
    "effnet.scaling_law": ("effnet.scaling.law",),
    "effnet.budget": ("effnet.scaling.budget", "effnet.analysis.memory"),
    "effnet.search": ("effnet.scaling.search",),
    "effnet.profile": ("effnet.analysis.profile",),
    "effnet.summary": ("effnet.analysis.summary",),
    "effnet.cam": ("effnet.analysis.cam",),
    "effnet.plots": ("effnet.analysis.plots",),
    "effnet.inference": ("effnet.deploy.inference",),
    "effnet.export": ("effnet.deploy.export",),
    "effnet.optim": ("effnet.train.optim",),
    "effnet.train.predict": (
        "effnet.models.loading",
        "effnet.data.eval_set",
        "effnet.deploy.predict",
    ),
}


def new_homes(name: str) -> tuple[str, ...] | None:
    """Where the old module ``name`` lives now (``effnet.plots.curves`` included), or ``None``."""
    if name in MOVED:
        return MOVED[name]
    for old, new in MOVED.items():
        if name.startswith(old + ".") and len(new) == 1:
            return (new[0] + name[len(old) :],)
    return None


class _SplitModule(types.ModuleType):
    """An old module whose names now live in several modules."""

    def __init__(self, name: str, homes: tuple[str, ...]) -> None:
        super().__init__(name, f"Moved: its names now live in {', '.join(homes)}.")
        self._homes = homes

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        for home in self._homes:
            module = importlib.import_module(home)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        for home in self._homes:
            names.update(dir(importlib.import_module(home)))
        return sorted(names)


class _MovedLoader(importlib.abc.Loader):
    def __init__(self, homes: tuple[str, ...]) -> None:
        self.homes = homes

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        warnings.warn(
            f"{spec.name} moved to {' / '.join(self.homes)}; the old path will go in a later "
            "release",
            DeprecationWarning,
            stacklevel=2,
        )
        if len(self.homes) == 1:
            module = importlib.import_module(self.homes[0])
            self.own_spec = module.__spec__
            return module
        return _SplitModule(spec.name, self.homes)

    def exec_module(self, module: types.ModuleType) -> None:
        # the import machinery stamped the old name's spec on the module: give the real
        # module its own back (reload, pickling and tools read it)
        own = getattr(self, "own_spec", None)
        if own is not None:
            module.__spec__ = own


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old module paths of :data:`MOVED`."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        homes = new_homes(fullname)
        if homes is None:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedLoader(homes))


def install() -> None:
    """Put :class:`MovedFinder` first on ``sys.meta_path`` (once): a submodule of a moved
    package (``effnet.plots.curves``) must resolve to the new module, not be found again
    through the package's ``__path__`` and loaded a second time."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
