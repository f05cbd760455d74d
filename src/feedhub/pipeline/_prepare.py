"""Re-export of ``feedhub.prepare``, the parse workers' code.

It lives outside this package so that a worker process imports only the stages
it runs, not the whole pipeline (importing ``feedhub.pipeline._prepare`` runs
``feedhub/pipeline/__init__.py`` first). Edit ``src/feedhub/prepare.py``.
"""

from __future__ import annotations

from feedhub.prepare import _Prepared, prepare_update

__all__ = ["_Prepared", "prepare_update"]
