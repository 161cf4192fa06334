"""An engine shared by many batches of one test module: a batch's close() leaves it running."""

from __future__ import annotations

from typing import Any


class SharedEngine:
    """Everything of ``engine`` except ``close``, which does nothing: the test session's engine
    (zygote started once) serves batch after batch."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def close(self) -> None:
        pass
