"""Names of a package resolved on first use (PEP 562), for packages whose submodules pull in heavy libraries: the
package's `__getattr__` imports the submodule a name lives in when the name is first asked for, then keeps it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, home: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `home` maps each name to its submodule; a resolved name is stored in
    `namespace` (the package's globals()), so the next lookup does not come here."""

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
