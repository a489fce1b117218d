"""Serving over HTTP: the built site's files, the security headers, the per-client limits and uvicorn's set-up."""
