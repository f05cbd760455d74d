"""Imported last by the parse workers' fork server, never by feedhub itself.

No business logic. Two things every worker forked from the server inherits:

- multiprocessing re-runs the main script in each worker it starts (to find
  functions defined there); for the ``feedhub`` console script that imports
  the whole CLI again per worker. The workers only ever run functions of
  importable modules (``feedhub.prepare``), so that step is skipped (it is
  already skipped for ``python -m feedhub``, whose ``__main__`` is a package's).
- every object the server has loaded moves to the garbage collector's
  permanent generation (``gc.freeze``), so collections in the workers do not
  write to those objects' pages and copy them (~4 MiB PSS less for two
  workers, issue 4).
"""

import gc
from multiprocessing import spawn


def _skip_main_script(main_path: str) -> None:
    """Stand-in for ``multiprocessing.spawn._fixup_main_from_path``."""


setattr(spawn, "_fixup_main_from_path", _skip_main_script)  # noqa: B010
gc.freeze()
