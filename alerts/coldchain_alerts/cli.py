"""`coldchain-alerts`: run the service, and manage its database from the command line.

Every command reads the same settings as the service (COLDCHAIN_ALERTS_* or
--env-file). Commands that change something record it in the audit log with
the actor `cli:<login name of the operating-system user>`.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from coldchain import calibration as calibration_rules
from coldchain.contract import ID_PATTERN
from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet, parse_yaml
from coldchain_alerts import (
    access,
    calibration,
    gateways,
    outbox,
    partners,
    people,
    policies,
    registry,
)
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.influx import InfluxError
from coldchain_alerts.models import Contact
from coldchain_alerts.settings import AlertsSettings
from coldchain_io import dynsec, fleetfile
from coldchain_io import nats as nats_io
from coldchain_io.logs import configure_logging

if TYPE_CHECKING:
    from coldchain_alerts.service import AlertsService

app = typer.Typer(add_completion=False, help=__doc__)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People and machines that use the service.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
contact_app = typer.Typer(help="Who is told about alerts.", no_args_is_help=True)
policy_app = typer.Typer(help="Escalation policies per site.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
gateway_app = typer.Typer(help="Gateways' broker accounts.", no_args_is_help=True)
partner_app = typer.Typer(
    help="Partners (receiving kitchens, platforms) that get delivery certificates.",
    no_args_is_help=True,
)
fleet_app = typer.Typer(
    help="The fleet registry: import, export and history (docs/fleet.md).", no_args_is_help=True
)
calibration_app = typer.Typer(
    help="The calibration register (EN 13486): import the lab's CSV, list, export "
    "for coldchain-report (docs/compliance.md).",
    no_args_is_help=True,
)
dead_letters_app = typer.Typer(
    help="Points InfluxDB refused: the copy of alert steps and of the audit chain they miss.",
    no_args_is_help=True,
)
for sub, name in (
    (db_app, "db"),
    (user_app, "user"),
    (token_app, "token"),
    (contact_app, "contact"),
    (policy_app, "policy"),
    (audit_app, "audit"),
    (gateway_app, "gateway"),
    (partner_app, "partner"),
    (fleet_app, "fleet"),
    (calibration_app, "calibration"),
    (dead_letters_app, "dead-letters"),
):
    app.add_typer(sub, name=name)

console = Console()
EnvFile = Annotated[
    Path | None,
    typer.Option(help="A .env file with COLDCHAIN_ALERTS_* settings.", exists=True, dir_okay=False),
]


def _settings(env_file: Path | None) -> AlertsSettings:
    return AlertsSettings(_env_file=env_file)


def _sessions(settings: AlertsSettings):  # type: ignore[no-untyped-def]
    """Sessions whose transactions take SQLite's write lock when they begin: a command
    runs beside the live service, and one that read before the service wrote would
    fail at its own write (db.make_engine). Reading commands wait for it too; briefly."""
    migrate(settings.database_url)
    return make_sessionmaker(make_engine(settings.database_url), writes=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context, env_file: EnvFile = None) -> None:
    """Without a command: `run`, so `coldchain-alerts --env-file FILE` starts the service."""
    if ctx.invoked_subcommand is None:
        run(env_file)


@app.command()
def run(env_file: EnvFile = None) -> None:
    """Serve the API and pages, store alert events and escalate, until SIGTERM or Ctrl-C."""
    # Here, not at the top: the web app and its server take about half a second to
    # import, which every other command (and every test calling one) would wait for.
    import uvicorn

    from coldchain_alerts.main import create_app

    settings = _settings(env_file)
    configure_logging(settings.log_format)
    # In json mode uvicorn's loggers go through ours; text keeps uvicorn's own format.
    log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=log_config,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: anyone on
        # the machine could then name any address, and the login throttle would believe it.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
    )


def _service(settings: AlertsSettings) -> AlertsService:
    """The service's core without its web app, for the commands that need it (imported
    here: its scheduler and metrics cost the other commands 0.2 s at start)."""
    from coldchain_alerts.service import AlertsService

    return AlertsService(settings)


@db_app.command("upgrade")
def db_upgrade(env_file: EnvFile = None) -> None:
    """Bring the database schema to the newest revision (also done at start)."""
    settings = _settings(env_file)
    migrate(settings.database_url)
    console.print("database schema is up to date")


@user_app.command("add")
def user_add(
    username: str,
    role: Role,
    display_name: Annotated[str, typer.Option(help="The name pages show.")] = "",
    language: Annotated[str, typer.Option(help="de or en.")] = "de",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input, not a prompt.")
    ] = False,
    no_password: Annotated[bool, typer.Option(help="A machine account: tokens only.")] = False,
    site: Annotated[
        list[str] | None,
        typer.Option(
            help="A site the user works at, with ROLE; repeat for more. None: every site."
        ),
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Add a user: viewer, officer, auditor or admin, at every site or at --site only."""
    password = None
    if not no_password:
        password = (
            sys.stdin.readline().rstrip("\n")
            if password_stdin
            else typer.prompt("password", hide_input=True, confirmation_prompt=True)
        )
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            people.add_user(
                session,
                _actor(),
                username,
                role,
                password,
                display_name,
                language,
                dict.fromkeys(site or [], role),
            )
    except (people.Conflict, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"added {role.value} {username} at {', '.join(site) if site else 'every site'}")


@user_app.command("sites")
def user_sites(
    username: str,
    site: Annotated[
        list[str] | None,
        typer.Argument(help="SITE:ROLE, e.g. canteen:officer; replaces the user's sites."),
    ] = None,
    every_site: Annotated[
        bool, typer.Option(help="Let the user work at every site, with their role.")
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Show a user's sites, or give them new ones (SITE:ROLE ...), or --every-site."""
    if site and every_site:
        raise _fail("give sites or --every-site, not both")
    try:
        wanted = dict(_site_role(text) for text in site or [])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            user = people.get_user(session, username)
            if wanted or every_site:
                access.set_sites(session, _actor(), user, wanted)
            shown = access.access_of(session, user)
    except (people.NotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    if shown.sites is None:
        console.print(f"{username}: every site, {shown.role.value}")
    for name, role in sorted((shown.sites or {}).items()):
        console.print(f"{username}: {name} {role.value}")


@user_app.command("export")
def user_export(
    file: Annotated[Path, typer.Argument(help="The file to write; - for standard output.")],
    format: Annotated[
        str, typer.Option(help="grafana: the people file of coldchain-dashboards publish.")
    ] = "grafana",
    env_file: EnvFile = None,
) -> None:
    """Write who logs in and at which sites, for `coldchain-dashboards publish --people`."""
    if format != "grafana":
        raise _fail(f"unknown format {format!r}; the one format is grafana")
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        text = people.people_file(session).to_json()
    if str(file) == "-":
        sys.stdout.write(text)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {file}: {exc.strerror}") from None
    console.print(f"wrote {escape(str(file))}")


def _site_role(text: str) -> tuple[str, Role]:
    name, _, role = text.partition(":")
    try:
        return name, Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ValueError(f"{text!r}: write SITE:ROLE, ROLE one of {roles}") from None


@token_app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    env_file: EnvFile = None,
) -> None:
    """Make an API token for USERNAME and print it (only this once)."""
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            row, token = people.add_token(session, _actor(), username, name)
            token_id = row.id
    except people.NotFound as exc:
        raise _fail(str(exc)) from None
    # The token alone on standard output, for scripts; its id (for `token revoke`) aside.
    print(token)
    typer.echo(
        f"token {token_id} of {username} ({name}); revoke it with: token revoke {token_id}",
        err=True,
    )


@token_app.command("list")
def token_list(
    username: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    env_file: EnvFile = None,
) -> None:
    """List API tokens: id, user, what it is for, when made and revoked (never the token)."""
    sessions = _sessions(_settings(env_file))
    try:
        with sessions() as session:
            rows = [
                (row.id, row.user.username, row.name, row.created_at, row.revoked_at)
                for row in people.tokens(session, username)
            ]
    except people.NotFound as exc:
        raise _fail(str(exc)) from None
    if not rows:
        print("no API tokens")
        return
    for token_id, owner, name, created, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d %H:%M} UTC" if revoked else "valid"
        print(f"{token_id}\t{owner}\t{name}\tmade {created:%Y-%m-%d %H:%M} UTC\t{state}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The id `token list` shows.")],
    env_file: EnvFile = None,
) -> None:
    """Revoke an API token: from now on it is refused (401). Recorded in the audit log."""
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            row = people.revoke_token(session, _actor(), token_id)
            owner, name = row.user.username, row.name
    except people.NotFound as exc:
        raise _fail(str(exc)) from None
    console.print(f"revoked token {token_id} of {escape(owner)} ({escape(name)})")


@contact_app.command("add")
def contact_add(
    name: str,
    language: Annotated[str, typer.Option(help="de or en.")] = "de",
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option(help="For SMS, +49...")] = None,
    ntfy_topic: Annotated[str | None, typer.Option()] = None,
    webhook_url: Annotated[str | None, typer.Option()] = None,
    env_file: EnvFile = None,
) -> None:
    """Add a contact and print its id (for `policy set`)."""
    sessions = _sessions(_settings(env_file))
    values = {
        "name": name,
        "language": language,
        "email": email,
        "phone": phone,
        "ntfy_topic": ntfy_topic,
        "webhook_url": webhook_url,
        "active": True,
    }
    try:
        with sessions.begin() as session:
            contact = people.save_contact(session, _actor(), values)
            contact_id = contact.id
    except people.Conflict as exc:
        raise _fail(str(exc)) from None
    print(contact_id)


@contact_app.command("list")
def contact_list(env_file: EnvFile = None) -> None:
    """Every contact: id (for `policy set`), name, language, where they are told."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        rows = [
            (row.id, row.name, row.language, _channels(row), row.active)
            for row in people.contacts(session)
        ]
    if not rows:
        print("no contacts")
        return
    for contact_id, name, language, channels, active in rows:
        state = "" if active else "\tinactive"
        print(f"{contact_id}\t{name}\t{language}\t{channels}{state}")


def _channels(contact: Contact) -> str:
    given = {
        "email": contact.email,
        "sms": contact.phone,
        "ntfy": contact.ntfy_topic,
        "webhook": contact.webhook_url,
    }
    return ", ".join(f"{kind} {value}" for kind, value in given.items() if value) or "nowhere"


@policy_app.command("list")
def policy_list(env_file: EnvFile = None) -> None:
    """Every site's escalation policy: its levels of contact ids, as `policy set` takes them."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        rows = [
            (row.site, row.ack_timeout_s, row.reminder_interval_s, policies.levels_of(row))
            for row in policies.all_policies(session)
        ]
    if not rows:
        print("no escalation policies: nobody is told of an alert")
        return
    for site, ack_timeout_s, reminder_s, levels in rows:
        shown = " ".join("--level " + ",".join(map(str, level)) for level in levels)
        reminder = f" --reminder-interval-s {reminder_s}" if reminder_s is not None else ""
        print(f"{site}\t{shown} --ack-timeout-s {ack_timeout_s}{reminder}")


@policy_app.command("set")
def policy_set(
    site: Annotated[str, typer.Argument(help="A site id, or * for every site without its own.")],
    level: Annotated[
        list[str], typer.Option(help="Contact ids of one level, comma-separated; repeat per level.")
    ],
    ack_timeout_s: Annotated[int, typer.Option(help="Time a level has to acknowledge.")] = 900,
    reminder_interval_s: Annotated[int | None, typer.Option()] = None,
    env_file: EnvFile = None,
) -> None:
    """Set the escalation policy of SITE: --level 1,2 --level 3 ..."""
    try:
        levels = [[int(part) for part in item.split(",") if part.strip()] for item in level]
    except ValueError:
        raise _fail("--level takes contact ids separated by commas, like 1,2") from None
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            policies.set_policy(session, _actor(), site, ack_timeout_s, reminder_interval_s, levels)
    except people.NotFound as exc:
        raise _fail(str(exc)) from None
    console.print(f"policy of {site}: {len(levels)} level(s)")


@partner_app.command("add")
def partner_add(
    partner_id: Annotated[str, typer.Argument(help="Its id: a-z, 0-9, . _ -")],
    name: Annotated[str, typer.Option(help="Its name, as people know it.")],
    webhook_url: Annotated[
        str | None, typer.Option(help="https:// URL that gets each certificate.")
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Add a partner; print its API key and webhook secret (only this once)."""
    settings = _settings(env_file)
    sessions = _sessions(settings)
    try:
        with sessions.begin() as session:
            new = partners.add_partner(
                session,
                _actor(),
                partner_id,
                name,
                webhook_url,
                settings.partner_webhook_http_loopback,
                datetime.now(UTC),
            )
    except (people.Conflict, ValueError) as exc:
        raise _fail(str(exc)) from None
    # The secrets alone on standard output, for scripts; what to do with them aside.
    print(f"api_key={new.api_key}")
    if new.webhook_secret:
        print(f"webhook_secret={new.webhook_secret}")
    typer.echo(
        f"partner {partner_id} added; hand these to it over a safe channel: they are not "
        "shown again (docs/partners.md tells the partner how to use them)",
        err=True,
    )


@partner_app.command("list")
def partner_list(env_file: EnvFile = None) -> None:
    """List partners: id, name, webhook, state, and their webhooks that failed."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        rows = partners.all_partners(session)
        failed = {row.id: partners.failed_webhooks(session, row.id) for row in rows}
    if not rows:
        print("no partners")
        return
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M} UTC" if row.revoked_at else "active"
        print(f"{row.id}\t{row.name}\t{row.webhook_url or 'no webhook'}\t{state}")
        for delivery in failed[row.id]:
            print(
                f"  webhook failed for delivery {delivery.sha256} "
                f"({delivery.delivery or 'no delivery number'}) after "
                f"{delivery.webhook_attempts} attempt(s): {delivery.webhook_error}"
            )


@partner_app.command("revoke")
def partner_revoke(partner_id: str, env_file: EnvFile = None) -> None:
    """Revoke a partner: its API key is refused at once, and its webhook gets nothing more."""
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            partners.revoke_partner(session, _actor(), partner_id, datetime.now(UTC))
    except people.NotFound as exc:
        raise _fail(str(exc)) from None
    console.print(f"revoked partner {escape(partner_id)}")


@audit_app.command("verify")
def audit_verify(env_file: EnvFile = None) -> None:
    """Check the audit log's chain, its head and its copy in InfluxDB.

    Exit 0 when intact, 1 when not (naming the first bad entry or what is missing),
    2 when the database or InfluxDB cannot be read, so the log cannot be shown intact.
    """
    settings = _settings(env_file)
    service = _service(settings)
    try:
        checked = service.verify_audit()
    finally:
        service.close()
    verdict = checked.verdict
    if verdict.ok and checked.compared:
        console.print(
            f"[green]intact:[/green] {verdict.entries} entries; the chain, its head and "
            "the copy in InfluxDB agree"
        )
        return
    if verdict.ok:
        console.print(
            f"[green]intact[/green] as far as the database shows: {verdict.entries} entries; "
            "the chain and its head agree. [yellow]InfluxDB is not configured[/yellow] "
            "(COLDCHAIN_ALERTS_INFLUX_URL), so there is no copy to compare with: a chain "
            "rebuilt, or cut at its end together with its head, would not show."
        )
        return
    problem = escape(verdict.problem)
    if not checked.completed:
        console.print(f"[red]NOT VERIFIED:[/red] {problem}")
        raise typer.Exit(2)
    where = "" if verdict.first_bad_seq is None else f" at entry {verdict.first_bad_seq}"
    console.print(f"[red]NOT INTACT{where}:[/red] {problem}")
    raise typer.Exit(1)


@fleet_app.command("import")
def fleet_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A fleet file.")],
    reason: Annotated[
        str, typer.Option(help="Why: recorded with every change; limits and categories need one.")
    ] = "",
    env_file: EnvFile = None,
) -> None:
    """Make a fleet file the next version; a loosening waits for a second person's approval."""
    try:
        data = parse_yaml(file.read_text(encoding="utf-8"))
    except (FleetConfigError, UnicodeDecodeError) as exc:
        raise _fail(f"{file}: {exc}") from None
    sessions = _sessions(_settings(env_file))
    try:
        with sessions.begin() as session:
            outcome = registry.propose(session, _actor(), data, reason)
            changed, number = len(outcome.request.changes), outcome.request.id
            waits = registry.loosens_of(outcome.request)
            made = outcome.version.number if outcome.version is not None else None
    except registry.RegistryError as exc:
        raise _fail(exc.detail) from None
    if made is None:
        console.print(
            f"request {number} ({changed} changes) waits for a second person's approval, "
            "as it loosens: " + escape("; ".join(waits))
        )
        return
    console.print(f"fleet version {made}: {changed} changes; the service publishes it to ingest")


@fleet_app.command("export")
def fleet_export(
    version: Annotated[int | None, typer.Option(help="This version; default: the newest.")] = None,
    env_file: EnvFile = None,
) -> None:
    """Write a version as a fleet file (YAML) to standard output."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        try:
            row = (
                registry.newest(session) if version is None else registry.version(session, version)
            )
        except registry.NotFound as exc:
            raise _fail(exc.detail) from None
        if row is None:
            raise _fail("the registry holds no fleet yet: coldchain-alerts fleet import FILE")
        data = registry.data_of(row)
        header = f"# fleet version {row.number}, valid from {row.valid_from.isoformat()}\n"
    sys.stdout.write(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@fleet_app.command("history")
def fleet_history(env_file: EnvFile = None) -> None:
    """Every change asked for, oldest first: who, when, old → new, why, and its outcome."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        rows = list(reversed(registry.requests(session, limit=10_000)))
        for row in rows:
            made = f"version {row.version}" if row.version else row.status
            by = f", approved by {row.decided_by}" if row.version and row.decided_by else ""
            print(
                f"{row.requested_at.isoformat()}\t{row.requested_by}\t{made}{by}\t"
                f"{row.reason or ''}"
            )
            for change in row.changes:
                print(f"\t{change.path}: {change.old} → {change.new}")


@calibration_app.command("import")
def calibration_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The calibration lab's CSV.")
    ],
    env_file: EnvFile = None,
) -> None:
    """Take every check of a lab's CSV into the register, or none: a bad row is named by
    its line. The running service raises or clears the maintenance alerts at its next look."""
    try:
        with file.open(newline="", encoding="utf-8") as lines:
            parsed = calibration_rules.parse(lines)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise _fail(f"cannot read {file} ({reason})") from None
    problems = parsed.problems
    if not problems:
        settings = _settings(env_file)
        sessions = _sessions(settings)
        try:
            with sessions.begin() as session:
                fleet = registry.current_fleet(session, _fleet_file(settings))
                checks = [(f"line {line}: ", check) for line, check in parsed.checks]
                calibration.record(session, _actor(), checks, fleet, datetime.now(UTC))
        except calibration.Refused as exc:
            problems = exc.problems
    if problems:
        for problem in problems:
            console.print(f"[red]error:[/red] {escape(f'{file}, {problem}')}", soft_wrap=True)
        console.print("nothing imported: correct these rows and import the file again")
        raise typer.Exit(2)
    console.print(f"{len(parsed.checks)} checks imported from {escape(str(file))}")


@calibration_app.command("list")
def calibration_list(
    sensor: Annotated[str | None, typer.Option(help="Only this sensor's checks.")] = None,
    env_file: EnvFile = None,
) -> None:
    """Every check, in the order they were made, tab-separated."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        rows = calibration.listing(session, sensor)
    for row in rows:
        deviation = "-" if row.deviation_k is None else f"{row.deviation_k:+g} K"
        print(
            f"{row.sensor}\t{row.checked_on}\tdue {row.due_on}\t{deviation}\t{row.reference}"
            f"\t{row.checked_by or '-'}\tentered by {row.entered_by}"
        )


@calibration_app.command("export")
def calibration_export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the CSV.")],
    env_file: EnvFile = None,
) -> None:
    """Write every check as the CSV coldchain-report --calibration reads."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        checks = [calibration.as_calibration(row) for row in calibration.listing(session)]
    try:
        with file.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(calibration_rules.rows(checks))
    except OSError as exc:
        raise _fail(f"cannot write {file} ({exc.strerror})") from None
    console.print(f"{len(checks)} checks written to {escape(str(file))}")


def _fleet_file(settings: AlertsSettings) -> Fleet | None:
    try:
        return fleetfile.load(settings.fleet) if settings.fleet is not None else None
    except (FleetConfigError, OSError) as exc:
        raise _fail(f"the fleet file {settings.fleet}: {exc}") from None


@dead_letters_app.command("list")
def dead_letters_list(env_file: EnvFile = None) -> None:
    """List the points InfluxDB refused, with its reason; exit 1 when there are any."""
    sessions = _sessions(_settings(env_file))
    with sessions() as session:
        letters = outbox.dead_letters(session)
    if not letters:
        print("InfluxDB has refused no point")
        return
    print(
        f"InfluxDB refused {len(letters)} point(s); remove the cause, then `dead-letters replay`:"
    )
    for letter in letters:
        print(
            f"#{letter.id}  last refused {letter.refused_at.isoformat()} "
            f"({letter.attempts} time(s))\n  reason: {letter.reason}\n  point:  {letter.line}"
        )
    raise typer.Exit(1)


@dead_letters_app.command("replay")
def dead_letters_replay(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Ids from `dead-letters list`; none: all.")
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Write refused points to InfluxDB again; exit 1 if it refuses some again (they stay)."""
    settings = _settings(env_file)
    migrate(settings.database_url)
    service = _service(settings)
    try:
        with service.sessions() as session:
            known = {letter.id for letter in outbox.dead_letters(session, ids or ())}
        unknown = sorted(set(ids or ()) - known)
        if unknown:
            raise _fail(f"no refused point with id {', '.join(map(str, unknown))}")
        if not known:
            print("InfluxDB has refused no point: nothing to replay")
            return
        stored, refused = service.replay_refused(_actor(), known)
    except InfluxError as exc:
        raise _fail(f"{exc}; nothing was replayed") from None
    finally:
        service.close()
    print(f"InfluxDB stored {len(stored)} point(s)")
    if refused:
        print(f"InfluxDB refused {len(refused)} point(s) again; they stay:")
        for letter_id, reason in sorted(refused.items()):
            print(f"#{letter_id}  {reason}")
        raise typer.Exit(1)


def main() -> None:
    app()


GatewayIdArgument = Annotated[str, typer.Argument(help="An id as in the fleet file.")]


def _gateway_ids(site: str, gateway: str) -> None:
    for what, value in (("site", site), ("gateway", gateway)):
        if re.fullmatch(ID_PATTERN, value) is None:
            raise _fail(f"{what} {value!r} is not an id: 1 to 64 lower-case letters, digits, '-'")


@gateway_app.command("enroll")
def gateway_enroll(
    site: GatewayIdArgument,
    gateway: GatewayIdArgument,
    out: Annotated[
        Path, typer.Option(help="Where to write the bundle (mode 600); must not exist.")
    ],
    env_file: EnvFile = None,
) -> None:
    """Register a gateway's broker account and write its one-time provisioning bundle."""
    _gateway_ids(site, gateway)
    settings = _settings(env_file)
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _fail(f"cannot create {out}: {exc.strerror}") from None
    try:
        with _sessions(settings)() as session:
            bundle = gateways.register(session, settings, _actor(), site, gateway)
            session.commit()
    except (gateways.NotConfigured, dynsec.DynsecUnavailable, people.Conflict) as exc:
        os.close(descriptor)
        out.unlink()
        raise _fail(str(exc)) from None
    except dynsec.DynsecError as exc:
        os.close(descriptor)
        out.unlink()
        raise _fail(f"the broker refused: {exc}") from None
    with os.fdopen(descriptor, "w") as written:
        json.dump(bundle, written, indent=2)
    console.print(
        f"registered {site}/{gateway}; its bundle is {out}: copy it to the gateway, run "
        "`coldchain-gateway enroll` there, then delete it"
    )


@gateway_app.command("retire")
def gateway_retire(
    site: GatewayIdArgument,
    gateway: GatewayIdArgument,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
    env_file: EnvFile = None,
) -> None:
    """Disable a gateway's broker account at once; its live connection is closed (on
    the NATS cluster: record the retirement; its account is in nats.conf)."""
    _gateway_ids(site, gateway)
    if not reason.strip():
        raise _fail("give a reason")
    settings = _settings(env_file)
    try:
        with _sessions(settings)() as session:
            row = gateways.retire(session, settings, _actor(), site, gateway, reason)
            session.commit()
    except (
        gateways.NotConfigured,
        dynsec.DynsecUnavailable,
        people.Conflict,
        people.NotFound,
    ) as exc:
        raise _fail(str(exc)) from None
    except dynsec.DynsecError as exc:
        raise _fail(f"the broker refused: {exc}") from None
    assert row.retired_at is not None
    console.print(f"retired {site}/{gateway} at {row.retired_at.isoformat()}")
    if gateways.account_in_nats_conf(settings):
        console.print(
            f"its NATS user {nats_io.gateway_user(site, gateway)} stays in the nodes' "
            "nats.conf until you take it out there and reload them; the workers refuse "
            "what it sends that it took after this time"
        )


@gateway_app.command("list")
def gateway_list(env_file: EnvFile = None) -> None:
    """Gateways registered through the service, and which are retired."""
    settings = _settings(env_file)
    with _sessions(settings)() as session:
        for row in gateways.listing(session):
            retired = (
                f"retired {row.retired_at.isoformat()} by {row.retired_by}: {row.reason}"
                if row.retired_at
                else "active"
            )
            console.print(
                escape(
                    f"{row.site}/{row.gateway}  registered {row.created_at.isoformat()} "
                    f"by {row.created_by}  {retired}"
                )
            )
