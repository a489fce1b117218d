"""``kennisbank``: run the submission server and look after the submissions.

    kennisbank serve                          serve site/ and receive submissions on $HOST:$PORT
    kennisbank export --format csv|json [--email E] [--output FILE]
    kennisbank purge                          delete submissions older than $RETENTION_MONTHS
    kennisbank erase --email E                delete everything stored under one email address
    kennisbank stats                          count, mean score and bands
    kennisbank i18n-status [--check]          every page's translations: current, outdated, missing
    kennisbank i18n-mark FILE...              record that translations are reviewed against their source

Settings come from the environment (see ``kennisbank.server.settings``): the
commands that touch the data read DATABASE_URL, MKDOCS_CONFIG and RETENTION_MONTHS.
Exit codes: 0 done, 1 failed unexpectedly, 2 bad usage or input (the message says
what and how to fix it).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: CSV cells starting with one of these are formulas to a spreadsheet
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class UsageError(Exception):
    """Bad input on the command line or in the environment; the message names the fix."""


# Helpers


def _settings():
    from kennisbank.server.settings import Settings, SettingsError

    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


@contextmanager
def _store(settings):
    """The submission store for the duration of a command, closed afterwards."""
    from kennisbank.server.store import StoreError, open_store

    try:
        store = open_store(settings.database_url, settings.project_dir)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def _email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except (EmailNotValidError, ValueError, UnicodeError) as exc:
        raise UsageError(f"--email {value!r}: not an email address ({exc}). Fix: give the address as the person wrote it, e.g. --email name@example.org") from None


def _question_order(settings) -> list[str]:
    """Question ids in the order of the definitions, for the CSV columns (empty if unreadable)."""
    from kennisbank.manifest import ManifestError, load_manifest

    try:
        return [q.id for a in load_manifest(settings.site_dir).assessments.values() for q in a.questions]
    except ManifestError:
        return []


def neutralise(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula, made plain text with a leading ``'``."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def to_csv(submissions, question_order: Sequence[str] = ()) -> str:
    from kennisbank.server.store import CONTACT_KEYS, answer_ids, format_time

    questions = answer_ids(submissions, question_order)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "created_at", "assessment", "version", "lang", "score", "band", "consent", *CONTACT_KEYS, "discuss", *(f"answer.{q}" for q in questions)])
    for s in submissions:
        flag = lambda value: "" if value is None else ("yes" if value else "no")  # noqa: E731
        row = [s.public_id, format_time(s.created_at), s.assessment, s.version, s.lang, s.score, s.band, flag(s.consent)]
        row += [getattr(s, key) or "" for key in CONTACT_KEYS]
        row += [flag(s.discuss)]
        row += [s.answers.get(q, "") for q in questions]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def to_json(submissions) -> str:
    return json.dumps([s.as_dict() for s in submissions], ensure_ascii=False, indent=2) + "\n"


# Commands


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kennisbank.assessment import DefinitionError
    from kennisbank.server import create_app
    from kennisbank.server.settings import SettingsError
    from kennisbank.server.store import StoreError

    settings = _settings()
    try:
        app = create_app(settings)
    except (SettingsError, DefinitionError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    limit = settings.rate_limit or "off"
    print(f"kennisbank: serving {settings.site_dir} on http://{settings.host}:{settings.port}/ (rate limit {limit}, no access log)", file=sys.stderr)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # the privacy statement promises that no IP address is logged
        server_header=False,
        log_level="info",
    )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    settings = _settings()
    with _store(settings) as store:
        submissions = store.by_email(_email(args.email)) if args.email else store.all()
    text = to_csv(submissions, _question_order(settings)) if args.format == "csv" else to_json(submissions)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"--output {args.output}: cannot write ({exc.strerror}). Fix: choose a writable file") from None
        print(f"exported {len(submissions)} submission(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from kennisbank.server.store import format_time, months_before, utc_now

    settings = _settings()
    cutoff = months_before(utc_now(), settings.retention_months)
    with _store(settings) as store:
        count = store.purge_older_than(cutoff)
    print(f"purged {count} submission(s) received before {format_time(cutoff)} (RETENTION_MONTHS={settings.retention_months})")
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    email = _email(args.email)
    with _store(_settings()) as store:
        count = store.erase_email(email)
    print(f"erased {count} submission(s) stored under {email}")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    with _store(_settings()) as store:
        stats = store.stats()
    if args.format == "json":
        data = {
            "count": stats.count,
            "assessments": {
                key: {"count": a.count, "mean_score": a.mean_score, "bands": a.bands, "with_contact": a.with_contact, "discuss": a.discuss}
                for key, a in stats.assessments.items()
            },
        }
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(f"submissions: {stats.count}")
    for key, a in stats.assessments.items():
        mean = f"{a.mean_score:.1f}" if a.mean_score is not None else "-"
        print(f"\n{key}: {a.count} submission(s), mean score {mean}, {a.with_contact} with contact details, {a.discuss} asking to discuss")
        for band, count in sorted(a.bands.items(), key=lambda item: -item[1]):
            print(f"  {band:<24} {count:>6}  {100 * count / a.count:5.1f}%")
    return EXIT_OK


def _site():
    from kennisbank.siteconfig import SiteConfigError, load_mkdocs

    try:
        return load_mkdocs(os.environ.get("MKDOCS_CONFIG", "mkdocs.yml"))
    except SiteConfigError as exc:
        raise UsageError(str(exc)) from None


def cmd_i18n_status(args: argparse.Namespace) -> int:
    from kennisbank.translations import FrontMatterError, report, source_changes

    site = _site()
    docs = site.path.parent / "docs"
    default = site.default_language.locale
    try:
        statuses = report(docs, site.locales, default)
    except FrontMatterError as exc:
        raise UsageError(str(exc)) from None
    width = max((len(s.page) for s in statuses), default=4)
    print(f"{'page':<{width}}  lang  status")
    for status in statuses:
        state = status.state + (" (accepted)" if status.accepted else "")
        print(f"{status.page:<{width}}  {status.locale:<4}  {state}{': ' + status.detail if status.detail else ''}")
        if status.state == "outdated" and args.diff:
            recorded = status.detail.removeprefix("source changed since ")
            diff = source_changes(docs, status.page, default, recorded) if recorded != status.detail else None
            if diff:
                print("\n".join("    " + line for line in diff.splitlines()))
            else:
                print("    (the translated version of the source is not in git's history: compare by hand)")
    work = [s for s in statuses if s.needs_work]
    print(f"\n{len(statuses) - len(work)} of {len(statuses)} translation(s) current or accepted")
    return EXIT_FAILED if args.check and work else EXIT_OK


def cmd_i18n_mark(args: argparse.Namespace) -> int:
    from kennisbank.translations import FrontMatterError, set_source_hash, source_hash, split_locale, translation_file

    site = _site()
    docs = (site.path.parent / "docs").resolve()
    default = site.default_language.locale
    for name in args.files:
        path = Path(name).resolve()
        try:
            relative = path.relative_to(docs).as_posix()
        except ValueError:
            raise UsageError(f"{name} is not under {docs}: name a translation such as docs/privacy.en.md") from None
        page, locale = split_locale(relative, site.locales)
        if locale is None or locale == default or not path.is_file():
            raise UsageError(f"{name} is not a translation file (docs/<page>.<language>.md, not {default}): name one such as docs/privacy.en.md")
        source = docs / translation_file(page, default)
        if not source.is_file():
            raise UsageError(f"{name} has no source: docs/{translation_file(page, default)} does not exist")
        try:
            value = source_hash(source.read_text(encoding="utf-8"))
        except FrontMatterError as exc:
            raise UsageError(f"docs/{translation_file(page, default)}: {exc}") from None
        path.write_text(set_source_hash(path.read_text(encoding="utf-8"), value), encoding="utf-8")
        print(f"{name}: translates docs/{translation_file(page, default)} as of {value}")
    return EXIT_OK


# The parser

ENVIRONMENT = """\
environment:
  DATABASE_URL      where submissions are kept (default sqlite:///var/kennisbank.sqlite3,
                    relative to the folder of mkdocs.yml)
  MKDOCS_CONFIG     the site's mkdocs.yml (default: in the current folder or a parent)
  RETENTION_MONTHS  how long submissions are kept (default 12)
"""


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="kennisbank",
        description="Run the knowledge site's submission server and look after the submissions it keeps.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=ENVIRONMENT,
    )
    commands = main.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, run: Callable[[argparse.Namespace], int], help: str, description: str, epilog: str = ENVIRONMENT) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=run)
        return sub

    add(
        "serve",
        cmd_serve,
        "serve the built site and receive submissions",
        "Serve the built site (SITE_DIR) and receive self-assessment submissions, with uvicorn on "
        "HOST:PORT. Builds nothing: run `make build` first (`make serve` does both). Keeps no access "
        "log: no IP address is logged or stored.",
        epilog="""\
environment:
  HOST, PORT        address to listen on (default 127.0.0.1, 8000)
  SITE_DIR          the built site (default: site/ beside mkdocs.yml)
  DATABASE_URL      where submissions are kept (default sqlite:///var/kennisbank.sqlite3)
  MKDOCS_CONFIG     the site's mkdocs.yml (default: in the current folder or a parent)
  RETENTION_MONTHS  submissions older than this are purged at start and daily (default 12)
  RATE_LIMIT        submissions per seconds per client address, e.g. 5/60, or off
  CORS_ORIGINS      comma-separated origins allowed to post JSON from another host
  MAX_BODY_BYTES    the largest submission body accepted (default 65536)
""",
    )
    export = add(
        "export",
        cmd_export,
        "write submissions as CSV or JSON",
        "Write every submission (or one person's, with --email) as CSV, one row each with the answers "
        "as columns, or as JSON. CSV cells that a spreadsheet would run as a formula start with '.",
    )
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    export.add_argument("--email", metavar="E", help="only the submissions stored under this email address (a request for access)")
    export.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    add(
        "purge",
        cmd_purge,
        "delete submissions older than RETENTION_MONTHS",
        "Delete every submission received more than RETENTION_MONTHS months ago (default 12) and print "
        "how many. The server also does this when it starts and once a day.",
    )
    erase = add(
        "erase",
        cmd_erase,
        "delete everything stored under one email address",
        "Delete every submission stored under an email address (a request for erasure) and print how "
        "many. Deleted data is overwritten in the database file.",
    )
    erase.add_argument("--email", metavar="E", required=True, help="the person's email address (compared in lowercase)")
    stats = add("stats", cmd_stats, "count, mean score and band distribution", "Print how many submissions there are, their mean score and how they spread over the bands.")
    stats.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    status = add(
        "i18n-status",
        cmd_i18n_status,
        "every page's translations: current, outdated or missing",
        "For every page of the default language and every other language, print whether its "
        "translation is current, outdated (its source changed since the version it records as "
        "source_hash) or missing, and whether its front matter accepts that.",
        epilog="Reads the languages from mkdocs.yml (MKDOCS_CONFIG, or found from the current folder).",
    )
    status.add_argument("--diff", action="store_true", help="show what changed in each outdated page's source, from git")
    status.add_argument("--check", action="store_true", help="exit 1 when a translation is outdated or missing and not accepted")
    mark = add(
        "i18n-mark",
        cmd_i18n_mark,
        "record that translations are reviewed against their current source",
        "After reviewing a translation, record the current version of its source as source_hash in "
        "its front matter, so the build no longer reports it as outdated.",
        epilog="Reads the languages from mkdocs.yml (MKDOCS_CONFIG, or found from the current folder).",
    )
    mark.add_argument("files", nargs="+", metavar="FILE", help="translation files, e.g. docs/privacy.en.md")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"kennisbank {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
