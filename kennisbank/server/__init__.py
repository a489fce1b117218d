"""The submission server: serves the built site and takes what readers send.

``kennisbank.server.app.create_app(settings)`` builds the ASGI app from the parts:

- ``web``: serving the files, the security headers, per-client limits, uvicorn;
- ``intake``: submissions and contact requests, their replies, the peer comparison;
- ``outbox``: the worker that mails the consultant and calls the webhook;
- ``dashboard``: the consultant's views under ``/beheer/``;
- ``db``: the store, every SQL statement and the migrations;

with ``settings`` (the environment, read once) beside them.
"""
