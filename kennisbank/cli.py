"""``kennisbank``: run the submission server and look after the submissions.

Each command's ``--help`` lists the environment variables it reads, from the one
settings table (``kennisbank.server.settings``), and reads only those. Exit codes:
0 done, 1 failed unexpectedly, 2 bad usage or input (the message says what and
how to fix it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class BadInput(click.ClickException):
    """Bad input in the environment, a file or the database; the message names the fix."""

    exit_code = EXIT_USAGE


class Command(click.Command):
    """A command that reads some of the server's settings: ``reads`` names them, or is "all".

    Its --help lists them from the settings table, and :func:`read_settings` reads
    those and no others: a bad PORT does not stop ``kennisbank erase``."""

    def __init__(self, *args: Any, reads: Sequence[str] | str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reads = reads

    def variables(self) -> list:
        from kennisbank.server.settings import variables

        return variables() if self.reads == "all" else variables(*self.reads)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Environment"):
            formatter.write_dl(help_rows(self.variables()))
        super().format_epilog(ctx, formatter)


class Email(click.ParamType):
    """An email address, normalised and in lowercase, as the server stores it."""

    name = "email"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(str(value).strip(), check_deliverability=False).normalized.lower()
        except (EmailNotValidError, ValueError, UnicodeError) as exc:
            self.fail(f"{value!r} is not an email address ({exc}). Fix: give the address as the person wrote it, e.g. --email name@example.org", param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """Run the knowledge site's submission server and look after the submissions it keeps.

    Each command's --help lists the environment variables it reads. Exit codes: 0
    done, 1 failed unexpectedly, 2 bad usage or input (the message names the fix).
    """


# Helpers


def help_rows(variables: list) -> list[tuple[str, str]]:
    """(name, text) of each variable, the default shown as click shows an option's."""
    return [(v.name, f"{v.help}  [default: {v.default}]" if v.default else v.help) for v in variables]


def read_settings():
    """The settings the running command reads (see :class:`Command`), the others at their defaults."""
    from kennisbank.server.settings import Settings, SettingsError

    reads = {v.name for v in click.get_current_context().command.variables()}
    try:
        return Settings.from_env({name: value for name, value in os.environ.items() if name in reads})
    except SettingsError as exc:
        raise BadInput(str(exc)) from None


@contextmanager
def store(settings):
    """The submission store for the duration of a command, closed afterwards."""
    from kennisbank.server.db.store import StoreError, open_store

    try:
        opened = open_store(settings.database_url, settings.project_dir)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    try:
        yield opened
    finally:
        opened.close()


def site(config: str):
    from kennisbank.siteconfig import SiteConfigError, load_mkdocs

    try:
        return load_mkdocs(config)
    except SiteConfigError as exc:
        raise BadInput(str(exc)) from None


config_option = click.option(
    "--config",
    "-f",
    type=click.Path(dir_okay=False),
    default="mkdocs.yml",
    show_default=True,
    envvar="MKDOCS_CONFIG",
    show_envvar=True,
    help="the site's mkdocs.yml, for its languages",
)


# Commands


@cli.command(cls=Command, reads="all")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="server processes sharing the port (default: WORKERS, else 1); more than 1 needs PostgreSQL in DATABASE_URL",
)
def serve(workers: int | None) -> None:
    """Serve the built site and receive self-assessment submissions.

    Serves SITE_DIR with uvicorn on HOST:PORT. Builds nothing: run `make build`
    first (`make serve` does both). Keeps no access log: no IP address is logged
    or stored. With --workers N (PostgreSQL only) N processes share the port, the
    rate limit, the logins and one outbox worker; SQLite is single-process.
    """
    from kennisbank.assessment import DefinitionError
    from kennisbank.server.app import create_app
    from kennisbank.server.app import serve as serve_app
    from kennisbank.server.db.store import StoreError
    from kennisbank.server.settings import SettingsError

    if workers is not None:
        os.environ["WORKERS"] = str(workers)  # checked with the other settings, and read by each worker process
    chosen = read_settings()
    try:
        # with several workers this one checks the site and migrates the database once; each worker makes its own
        app = create_app(chosen, outbox_worker=chosen.workers == 1)
    except (SettingsError, DefinitionError, StoreError) as exc:
        raise BadInput(str(exc)) from None
    from kennisbank.server.db.shared_state import check_connection_budget

    try:
        check_connection_budget(app.state.store, chosen.workers)
    except ValueError as exc:
        app.state.store.close()
        raise BadInput(str(exc)) from None
    from kennisbank.server.web.serving import connection_cap

    limit = chosen.rate_limit or "off"
    connections = connection_cap(chosen.max_connections)
    proxies = ", ".join(chosen.trusted_proxies) or "none"
    processes = "one process" if chosen.workers == 1 else f"{chosen.workers} worker processes sharing the rate limit, logins and outbox through the database"
    click.echo(
        f"kennisbank: serving {chosen.site_dir} on http://{chosen.host}:{chosen.port}/ in {processes} (rate limit {limit}, "
        f"at most {connections} connections{' per process' if chosen.workers > 1 else ''}, {chosen.request_timeout} s per request, "
        f"trusted proxies: {proxies}, no access log)",
        err=True,
    )
    from kennisbank.server import redaction
    from kennisbank.server.channels import NotifySettings

    notify = NotifySettings.of(chosen)
    if notify.mode == "off":
        click.echo("kennisbank: notifications are off (NOTIFY=off)", err=True)
    else:
        hook = f" and the webhook {redaction.url(notify.webhook_url)}" if notify.webhook_url else ""
        click.echo(f"kennisbank: {notify.mode} go by email to {notify.to} through {notify.transport}{hook} (NOTIFY={notify.mode})", err=True)
    serve_app(chosen, app)


@cli.command(cls=Command, reads=("DATABASE_URL", "SITE_DIR"))
@click.option("--format", "form", type=click.Choice(["csv", "json"]), default="csv", show_default=True, help="CSV for a spreadsheet, or JSON")
@click.option("--email", type=Email(), help="only the submissions stored under this address (a request for access)")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="write to this file instead of standard output")
def export(form: str, email: str | None, output: Path | None) -> None:
    """Write every submission (or one person's, with --email) as CSV or JSON.

    CSV has a row per submission and the answers as columns, in the order of the
    assessment as built in SITE_DIR; a cell a spreadsheet would run as a formula
    starts with '.
    """
    from kennisbank.manifest import ManifestError, load_manifest
    from kennisbank.server.dashboard.export import band_titles, question_order, to_csv, to_json

    chosen = read_settings()
    with store(chosen) as opened:
        submissions = opened.by_email(email) if email else opened.all()
    try:
        manifest = load_manifest(chosen.site_dir)
        # the band titles in the site's default language, as the consultant's email says them
        title = band_titles(manifest.assessments.values(), manifest.site.default_language.locale)
    except ManifestError as exc:
        manifest, title = None, str
        click.echo(f"note: the band titles are the bands' ids{' and the answer columns are sorted by question id' if form == 'csv' else ''}: {exc}", err=True)
    if form == "csv":
        text = to_csv(submissions, question_order(chosen.site_dir) if manifest else [], title)
    else:
        text = to_json(submissions, title)
    if output is None:
        sys.stdout.write(text)  # not click.echo: it would strip escape sequences from the data
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise BadInput(f"--output {output}: cannot write ({exc.strerror}). Fix: choose a writable file") from None
    click.echo(f"exported {len(submissions)} submission(s) to {output}", err=True)


@cli.command(cls=Command, reads=("DATABASE_URL", "RETENTION_MONTHS"))
def purge() -> None:
    """Delete the submissions older than RETENTION_MONTHS.

    Prints how many. The server also does this when it starts and once a day.
    """
    from kennisbank.server.db.store import format_time, months_before, utc_now

    chosen = read_settings()
    cutoff = months_before(utc_now(), chosen.retention_months)
    with store(chosen) as opened:
        count = opened.purge_older_than(cutoff)
    click.echo(f"purged {count} submission(s) received before {format_time(cutoff)} (RETENTION_MONTHS={chosen.retention_months})")


@cli.command(cls=Command, reads=("DATABASE_URL",))
@click.option("--email", type=Email(), required=True, help="the person's email address (compared in lowercase)")
def erase(email: str) -> None:
    """Delete everything stored under one email address (a request for erasure).

    Prints how many submissions. Deleted data is overwritten in the database file.
    """
    with store(read_settings()) as opened:
        count = opened.erase_email(email)
    click.echo(f"erased {count} submission(s) stored under {email}")


@cli.group(invoke_without_command=True)
@click.pass_context
def outbox(context: click.Context) -> None:
    """The deliveries of submissions (email, webhook) that are pending or have failed.

    Without a subcommand: lists them, with their attempts and last error. A delivery
    that failed for good (after about a day of retries, or a webhook's 410) waits
    for `kennisbank outbox retry`.
    """
    if context.invoked_subcommand is None:
        context.invoke(outbox_list)


@outbox.command("list", cls=Command, reads=("DATABASE_URL",))
@click.option("--all", "everything", is_flag=True, help="also the deliveries that were sent")
def outbox_list(everything: bool = False) -> None:
    """List pending and failed deliveries (with --all: sent ones too)."""
    states = ("pending", "failed", "sent") if everything else ("pending", "failed")
    with store(read_settings()) as opened:
        rows = opened.deliveries(states)
    if not rows:
        click.echo("the outbox is empty: nothing pending or failed" if not everything else "no deliveries")
        return
    for row in rows:
        when = (
            f"next attempt {row.next_attempt.isoformat(timespec='seconds')}"
            if row.state == "pending"
            else (f"sent {row.sent_at.isoformat(timespec='seconds')}" if row.sent_at else "")
        )
        error = f"; last error: {row.last_error}" if row.last_error else ""
        click.echo(f"{row.id:>6}  {row.submission}  {row.channel:<7}  {row.state:<7}  {row.attempts} attempt(s)  {when}{error}")


@outbox.command(
    "work",
    cls=Command,
    reads=("DATABASE_URL", "SITE_DIR", "NOTIFY", "SMTP_URL", "NOTIFY_TO", "NOTIFY_FROM", "MAILDIR", "WEBHOOK_URL", "WEBHOOK_SECRET"),
)
@click.option("--nice", type=click.IntRange(0, 19), default=0, show_default=True, help="lower the worker's CPU priority by this much")
@click.option("--parent", type=click.IntRange(min=1), hidden=True, help="the server's pid: stop when it ends (kennisbank serve sets it)")
def outbox_work(nice: int, parent: int | None) -> None:
    """Deliver the outbox: send pending deliveries until stopped (SIGTERM or Ctrl+C).

    `kennisbank serve` runs this itself, as a child process at a lower CPU priority;
    run it by hand to send what waits in the outbox without the server. It reads the
    outbox when another process commits to the database (a few times a second at
    most), and at least every few seconds for retries that come due. One worker per
    database: a second one waits until the first stops.
    """
    import logging

    from kennisbank.manifest import ManifestError, load_manifest
    from kennisbank.server.channels import NotifySettings
    from kennisbank.server.dashboard.paths import lead_url
    from kennisbank.server.intake.definitions import Definitions
    from kennisbank.server.outbox.locks import LockLost
    from kennisbank.server.outbox.worker import Outbox, can_share, run_worker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s", stream=sys.stderr)
    chosen = read_settings()
    try:
        manifest = load_manifest(chosen.site_dir)
    except ManifestError as exc:
        raise BadInput(f"SITE_DIR: {exc}") from None
    with store(chosen) as opened:
        if not can_share(opened):
            raise BadInput("DATABASE_URL: an in-memory database cannot be shared with the server. Fix: point it at the server's database file")
        definitions = Definitions(opened, chosen.site_dir, manifest)
        outbox = Outbox(opened, definitions, NotifySettings.of(chosen), lead_url(manifest.site.site_url))
        try:
            run_worker(opened, outbox, nice=nice, parent=parent)
        except LockLost as exc:
            click.echo(f"kennisbank: {exc}", err=True)
            sys.exit(75)  # EX_TEMPFAIL: kennisbank serve starts it again


@outbox.command("retry", cls=Command, reads=("DATABASE_URL",))
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "everything", is_flag=True, help="every failed delivery")
def outbox_retry(ids: tuple[int, ...], everything: bool) -> None:
    """Make failed deliveries pending again; the running server sends them within a second."""
    if bool(ids) == everything:
        raise BadInput("name the deliveries to retry (their numbers from `kennisbank outbox`), or give --all")
    with store(read_settings()) as opened:
        count = opened.retry_deliveries(None if everything else ids)
    click.echo(f"{count} failed delivery(ies) will be tried again")


@cli.command(cls=Command, reads=("DATABASE_URL",))
@click.option("--format", "form", type=click.Choice(["text", "json"]), default="text", show_default=True, help="text to read, or JSON")
def stats(form: str) -> None:
    """Count, mean score and band distribution of the submissions."""
    with store(read_settings()) as opened:
        counted = opened.stats()
    if form == "json":
        data = {
            "count": counted.count,
            "assessments": {
                key: {"count": a.count, "mean_score": a.mean_score, "bands": a.bands, "with_contact": a.with_contact, "discuss": a.discuss}
                for key, a in counted.assessments.items()
            },
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"submissions: {counted.count}")
    for key, a in counted.assessments.items():
        mean = f"{a.mean_score:.1f}" if a.mean_score is not None else "-"
        click.echo(f"\n{key}: {a.count} submission(s), mean score {mean}, {a.with_contact} with contact details, {a.discuss} asking to discuss")
        for band, count in sorted(a.bands.items(), key=lambda item: -item[1]):
            click.echo(f"  {band:<24} {count:>6}  {100 * count / a.count:5.1f}%")


@cli.command(cls=Command, reads=("DATABASE_URL",))
@click.option(
    "--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path), help="the new backup file (an existing file is never overwritten)"
)
def backup(target: Path) -> None:
    """Copy the database to a new file, also while the server runs and takes submissions.

    The copy is one consistent snapshot, compacted (nothing erased or purged lingers
    in it), integrity-checked and synced; it appears under its name only when
    complete. Prints how many submissions it holds. To restore, copy it over the
    server's database while the server is stopped (README: Deploying).
    """
    import time

    from kennisbank.server.db.store import StoreError, parse_database_url

    chosen = read_settings()
    _, source = parse_database_url(chosen.database_url, chosen.project_dir)  # valid: read_settings checked it
    if isinstance(source, Path) and not source.is_file():
        raise BadInput(
            f"DATABASE_URL: {source} does not exist, so there is nothing to back up. "
            "Fix: point DATABASE_URL at the server's database, e.g. sqlite:////var/lib/kennisbank/kennisbank.sqlite3"
        )
    if target.exists() or target.is_symlink():
        raise BadInput(f"--to {target}: the file exists, and a backup never overwrites one. Fix: choose a new name, e.g. with the date and time in it")
    if not target.parent.is_dir():
        raise BadInput(f"--to {target}: the folder {target.parent} does not exist. Fix: create it first, or choose a file in an existing folder")
    started = time.monotonic()
    with store(chosen) as opened:
        try:
            count = opened.backup(target)
        except FileExistsError:
            raise BadInput(f"--to {target}: the file appeared while the backup ran, and was left as it is. Fix: choose a new name") from None
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None  # exit 1: the database, not the input
        except OSError as exc:
            raise BadInput(
                f"--to {target}: cannot write the backup ({exc.strerror}); nothing was left behind. Fix: choose a writable folder with room for it"
            ) from None
    seconds = time.monotonic() - started
    click.echo(f"backed up {count} submission(s) to {target} ({target.stat().st_size / 1024:.0f} KB, integrity checked, {seconds:.2f} s)")


@cli.group("db")
def database() -> None:
    """The database as a whole: move it between SQLite and PostgreSQL."""


@database.command("migrate", cls=Command, reads=("DATABASE_URL",))
def database_migrate() -> None:
    """Bring DATABASE_URL's database to this version's schema (the migrations it lacks).

    The server does this itself when it starts; run it by hand for a database that is to
    be a `db copy --from` source (a source is never migrated by the copy).
    """
    from kennisbank.server.db.store import StoreError, open_store

    chosen = read_settings()
    try:
        opened = open_store(chosen.database_url, chosen.project_dir)  # opening migrates
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        version = opened.schema_version
    finally:
        opened.close()
    click.echo(f"the database is at schema version {version}, this version's")


@database.command("copy")
@click.option("--from", "source", required=True, metavar="URL", help="the database to copy, e.g. sqlite:///var/kennisbank.sqlite3")
@click.option("--to", "target", required=True, metavar="URL", help="the database to fill, e.g. postgresql://kennisbank@localhost/kennisbank")
@click.option("--replace", is_flag=True, help="delete what the target holds first (otherwise a target with data is refused)")
@click.option("--allow-empty", is_flag=True, help="copy a source that holds no rows (otherwise refused: most likely a mistyped --from)")
def database_copy(source: str, target: str, replace: bool, allow_empty: bool) -> None:
    """Copy every table from one database to another: SQLite to PostgreSQL, and back.

    The source is opened read-only: it must exist, is never created or migrated (one at
    another schema version is refused: run `kennisbank db migrate` on it first), and one
    without rows is refused unless --allow-empty is given. The target is opened (created
    and migrated) as the server opens it. Relative sqlite:/// paths are relative to the
    current folder. The source is read in one snapshot, so the server may keep running
    on it; stop the servers that use the target. Every table is copied in one
    transaction on the target, the aggregates as they are, PostgreSQL's id sequences set
    past the copied ids. Each table's row count and a checksum over its rows are compared
    with the source before the commit: on a difference nothing is kept, and the error
    names the table. A target that holds data is refused unless --replace is given.

    Afterwards point DATABASE_URL at the target and start the server.
    """
    from kennisbank.server.db.copy import copy_database
    from kennisbank.server.db.store import StoreError, StoreURLError, parse_database_url

    for option, url in (("--from", source), ("--to", target)):
        try:
            parse_database_url(url, Path.cwd())
        except StoreURLError as exc:
            raise BadInput(f"{option}: {exc}") from None
    if source == target:
        raise BadInput("--from and --to name the same database. Fix: copy into another, empty database")
    try:
        copied = copy_database(source, target, Path.cwd(), replace=replace, allow_empty=allow_empty)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    width = max(len(item.table) for item in copied)
    for item in copied:
        click.echo(f"{item.table:<{width}}  {item.rows:>9} row(s)  sha256 {item.checksum[:16]}")
    click.echo(f"copied {sum(item.rows for item in copied)} row(s) in {len(copied)} tables; every table's count and checksum match the source")


@cli.group()
def admin() -> None:
    """The accounts of the consultant's dashboard (/beheer/ on `kennisbank serve`)."""


def _password(reset: bool) -> str:
    """The password from a prompt (typed twice), or from standard input when it is not a terminal."""
    if sys.stdin.isatty():
        return click.prompt("new password" if reset else "password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise BadInput("no password on standard input. Fix: type it at the prompt, or pipe it in: printf '%s\\n' \"$PASSWORD\" | kennisbank admin add EMAIL")
    return line


@admin.command("add", cls=Command, reads=("DATABASE_URL",))
@click.argument("email", type=Email())
@click.option("--reset", is_flag=True, help="the account exists: set a new password (its sessions end)")
def admin_add(email: str, reset: bool) -> None:
    """Add a dashboard account (or give it a new password with --reset).

    The password (12 characters at least) is asked for, or read from standard input
    when that is not a terminal; only its argon2 hash is stored.
    """
    from kennisbank.server.dashboard.auth import hash_password
    from kennisbank.server.db.store import StoreError

    password = _password(reset)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    with store(read_settings()) as opened:
        try:
            new = opened.add_admin(email, hashed, replace=reset)
        except StoreError as exc:
            raise BadInput(str(exc)) from None
    click.echo(f"added the account {email}" if new else f"set a new password for {email}; its sessions have ended")


@admin.command("remove", cls=Command, reads=("DATABASE_URL",))
@click.argument("email", type=Email())
def admin_remove(email: str) -> None:
    """Remove a dashboard account; its sessions end at once."""
    with store(read_settings()) as opened:
        if not opened.remove_admin(email):
            raise BadInput(f"there is no account {email}. Fix: see the accounts with kennisbank admin list")
    click.echo(f"removed the account {email}")


@admin.command("list", cls=Command, reads=("DATABASE_URL",))
def admin_list() -> None:
    """List the dashboard accounts, with whether TOTP is on."""
    with store(read_settings()) as opened:
        accounts = opened.admins()
    if not accounts:
        click.echo("no accounts; add one with kennisbank admin add EMAIL")
    for account in accounts:
        click.echo(f"{account.email}  since {account.created_at.date().isoformat()}  TOTP {'on' if account.totp_secret else 'off'}")


@admin.command("totp", cls=Command, reads=("DATABASE_URL",))
@click.argument("email", type=Email())
@click.option("--off", is_flag=True, help="switch TOTP off for the account")
def admin_totp(email: str, off: bool) -> None:
    """Switch on TOTP (a code from an authenticator app at every login) for an account.

    Prints the otpauth URI and the secret once, to put in the app; running it again
    makes a new secret (the old one stops working).
    """
    from kennisbank.server.dashboard.auth import new_totp_secret, totp_uri

    with store(read_settings()) as opened:
        account = opened.admin(email)
        if account is None:
            raise BadInput(f"there is no account {email}. Fix: add it first with kennisbank admin add {email}")
        if off:
            opened.update_admin(account.id, totp_secret=None, totp_last=None)
            click.echo(f"TOTP is off for {email}")
            return
        secret = new_totp_secret()
        opened.update_admin(account.id, totp_secret=secret, totp_last=None)
    click.echo(f"TOTP is on for {email}. Add it to an authenticator app (shown once):")
    click.echo(f"  URI:    {totp_uri(secret, email, 'Kennisbank beheer')}")
    click.echo(f"  secret: {secret}")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="as the Markdown table in README.md, to paste there")
def show_settings(markdown: bool) -> None:
    """The server's environment variables: name, default and what each does."""
    from kennisbank.server.settings import markdown_table, variables

    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    formatter = click.HelpFormatter(max_width=100)
    formatter.write_dl(help_rows(variables()))
    click.echo(formatter.getvalue(), nl=False)


@cli.command("i18n-status")
@config_option
@click.option("--diff", is_flag=True, help="show what changed in each outdated page's source, from git")
@click.option("--check", is_flag=True, help="exit 1 when a translation is outdated or missing and not accepted")
def i18n_status(config: str, diff: bool, check: bool) -> None:
    """Every page's translations: current, outdated or missing.

    For every page of the default language and every other language, prints
    whether its translation is current, outdated (its source changed since the
    version it records as source_hash) or missing, and whether its front matter
    accepts that.
    """
    from kennisbank.translations import FrontMatterError, report, source_changes

    loaded = site(config)
    docs = loaded.path.parent / "docs"
    default = loaded.default_language.locale
    try:
        statuses = report(docs, loaded.locales, default)
    except FrontMatterError as exc:
        raise BadInput(str(exc)) from None
    width = max((len(s.page) for s in statuses), default=4)
    click.echo(f"{'page':<{width}}  lang  status")
    for status in statuses:
        state = status.state + (" (accepted)" if status.accepted else "")
        click.echo(f"{status.page:<{width}}  {status.locale:<4}  {state}{': ' + status.detail if status.detail else ''}")
        if status.state == "outdated" and diff:
            recorded = status.detail.removeprefix("source changed since ")
            changes = source_changes(docs, status.page, default, recorded) if recorded != status.detail else None
            if changes:
                click.echo("\n".join("    " + line for line in changes.splitlines()))
            else:
                click.echo("    (the translated version of the source is not in git's history: compare by hand)")
    work = [s for s in statuses if s.needs_work]
    click.echo(f"\n{len(statuses) - len(work)} of {len(statuses)} translation(s) current or accepted")
    if check and work:
        click.get_current_context().exit(EXIT_FAILED)


@cli.command("i18n-mark")
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def i18n_mark(config: str, files: tuple[str, ...]) -> None:
    """Record that translations are reviewed against their current source.

    After reviewing a translation (FILES, e.g. docs/privacy.en.md), records the
    current version of its source as source_hash in its front matter, so the build
    no longer reports it as outdated.
    """
    from kennisbank.translations import FrontMatterError, set_source_hash, source_hash, split_locale, translation_file

    loaded = site(config)
    docs = (loaded.path.parent / "docs").resolve()
    default = loaded.default_language.locale
    for name in files:
        path = Path(name).resolve()
        try:
            relative = path.relative_to(docs).as_posix()
        except ValueError:
            raise BadInput(f"{name} is not under {docs}. Fix: name a translation such as docs/privacy.en.md") from None
        page, locale = split_locale(relative, loaded.locales)
        if locale is None or locale == default:
            raise BadInput(f"{name} is not a translation file (docs/<page>.<language>.md, not {default}). Fix: name one such as docs/privacy.en.md")
        source = docs / translation_file(page, default)
        if not source.is_file():
            raise BadInput(f"{name} has no source: docs/{translation_file(page, default)} does not exist. Fix: name the translation of an existing page")
        try:
            value = source_hash(source.read_text(encoding="utf-8"))
        except FrontMatterError as exc:
            raise BadInput(f"docs/{translation_file(page, default)}: {exc}") from None
        path.write_text(set_source_hash(path.read_text(encoding="utf-8"), value), encoding="utf-8")
        click.echo(f"{name}: translates docs/{translation_file(page, default)} as of {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (the console script ``kennisbank`` and ``python -m kennisbank.cli``)."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="kennisbank", standalone_mode=False)
    except click.ClickException as exc:  # click's usage errors and BadInput: 2
        exc.show()
        return exc.exit_code
    except click.Abort:  # Ctrl+C
        return EXIT_FAILED
    return code if isinstance(code, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
