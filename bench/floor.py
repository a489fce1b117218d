"""The floor the receiver is measured against (``bench/receiver.py floor``).

The least any server must do for one submission, on the same uvicorn (h11, no access
log) as ``kennisbank serve``: a bare Starlette endpoint that parses the same JSON,
checks the answers against the definition's ids and scale, scores them with the
project's own scoring, and inserts one row into SQLite (WAL, ``synchronous=FULL``,
one commit per submission). No origin check, rate limit, body limit, group commit,
peer comparison, outbox row or security headers: what the receiver spends beyond
this is the price of those.

    python bench/floor.py PORT SITE_DIR DATABASE

The definition comes from the built site's manifest, as the receiver's does.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kennisbank.assessment import AnswerError, score  # noqa: E402
from kennisbank.manifest import load_manifest  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    assessment TEXT NOT NULL, version INTEGER NOT NULL, lang TEXT NOT NULL,
    answers TEXT NOT NULL, score INTEGER NOT NULL, band TEXT NOT NULL
)
"""


def app(site_dir: Path, database: Path) -> Starlette:
    assessments = load_manifest(site_dir).assessments
    db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(SCHEMA)

    async def submit(request: Request) -> JSONResponse:
        assessment = assessments.get(request.path_params["assessment"])
        if assessment is None:
            return JSONResponse({"error": "unknown assessment"}, status_code=404)
        try:
            body = json.loads(await request.body())
            answers = body["answers"]
            if not isinstance(answers, dict):
                raise TypeError("answers")
            result = score(assessment, answers)  # checks every id and value against the scale first
        except (ValueError, KeyError, TypeError, AnswerError) as exc:
            return JSONResponse({"error": str(exc)[:200]}, status_code=422)
        public_id = uuid.uuid4().hex
        db.execute(
            "INSERT INTO submissions (public_id, created_at, assessment, version, lang, answers, score, band) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                public_id,
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                assessment.id,
                assessment.version,
                str(body.get("lang", "nl"))[:8],
                json.dumps(answers),
                result.score,
                result.band.id,
            ),
        )
        return JSONResponse({"id": public_id, "score": result.score}, status_code=201)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/api/assessments/{assessment}/submissions", submit, methods=["POST"]), Route("/healthz", health)])


if __name__ == "__main__":
    port, site, database = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    uvicorn.run(app(site, database), host="127.0.0.1", port=port, http="h11", access_log=False, log_level="warning", lifespan="off")
