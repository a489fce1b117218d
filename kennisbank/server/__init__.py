"""The submission server: serves the built site and receives self-assessments.

``create_app(settings)`` builds the ASGI app; ``Settings.from_env()`` reads its
settings from the environment; ``kennisbank serve`` runs it with uvicorn.
"""

from .app import create_app
from .settings import RateLimit, Settings, SettingsError
from .store import Submission, SubmissionStore, open_store

__all__ = ["RateLimit", "Settings", "SettingsError", "Submission", "SubmissionStore", "create_app", "open_store"]
