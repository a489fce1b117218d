"""The submission server: serves the built site and receives self-assessments.

``create_app(settings)`` builds the ASGI app; ``Settings.from_env()`` reads its
settings from the environment; ``kennisbank serve`` runs it with uvicorn.

The names are imported when first used, so a command that only needs the settings
(``kennisbank stats --help``) does not pay for importing FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "create_app": ".app",
    "RateLimit": ".settings",
    "Settings": ".settings",
    "SettingsError": ".settings",
    "Submission": ".store",
    "SubmissionStore": ".store",
    "open_store": ".store",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)
