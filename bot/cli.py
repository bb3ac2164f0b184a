"""The ``helpdesk`` command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.settings import Settings

if TYPE_CHECKING:
    from escalation.storage import Storage
    from knowledge.corpus import KnowledgeBase

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _storage(s: Settings) -> Storage:
    """The desk's database (migrated), for one command; a clear error when it cannot be used."""
    from escalation.storage import SchemaTooNew, open_storage

    try:
        return open_storage(s.database_url, s.data_dir, listen=False)
    except (SchemaTooNew, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _knowledge(s: Settings) -> KnowledgeBase:
    from indexer.live import desk_knowledge

    storage = _storage(s)
    try:
        return desk_knowledge(s.faq_dir, [s.tickets_dir], storage.tickets)
    finally:
        storage.close()


def _progress_bar(desc: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "b" not in bar:
            bar["b"] = tqdm(total=total, desc=desc, unit="text", file=sys.stderr, dynamic_ncols=True)
        b = bar["b"]
        b.total = total
        b.update(done - b.n)

    def close() -> None:
        if "b" in bar:
            bar["b"].close()

    return update, close


data_dir_opt = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Runtime state folder [.helpdesk]."
)
faq_opt = click.option("--faq", "faq_dir", type=click.Path(path_type=Path), help="FAQ folder [data/faq].")
tickets_opt = click.option(
    "--tickets", "tickets_dir", type=click.Path(path_type=Path), help="Tickets folder [data/tickets]."
)


@click.group(context_settings=CONTEXT)
def main() -> None:
    """invoice-helpdesk: the 24/7 support desk of the invoice app.

    Example: helpdesk serve --port 8000
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@main.command()
@click.option("--host", help="Interface to listen on [127.0.0.1].")
@click.option("--port", type=int, help="Port [8000].")
@data_dir_opt
@faq_opt
@tickets_opt
def serve(
    host: str | None, port: int | None, data_dir: Path | None, faq_dir: Path | None, tickets_dir: Path | None
) -> None:
    """Run the service; builds the index first when it is missing or stale.

    Example: helpdesk serve --port 8000 --data-dir .helpdesk
    """
    import uvicorn

    from bot.services import build_services
    from bot.web.app import create_app
    from escalation.storage import SchemaTooNew

    settings = _settings(host=host, port=port, data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    update, close = _progress_bar("indexing")
    try:
        services = build_services(settings, progress=update)
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    close()
    for p in services.runtime.problems:
        click.echo(f"warning: {p}", err=True)
    if services.first_token:
        click.echo(
            f"Agent API token of 'agent' (stored in {settings.data_dir / 'agent_token'}; more with "
            f"`helpdesk token create`): {services.first_token}",
            err=True,
        )
    if services.first_password:
        click.echo(
            f"Console sign-in created: agent / {services.first_password} "
            f"(stored in {settings.data_dir / 'console_password'}; add more with `helpdesk agent add`)",
            err=True,
        )
    base = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"invoice-helpdesk on {base}  demo page {base}/  console {base}/console  API docs {base}/docs",
        err=True,
    )
    uvicorn.run(
        create_app(settings, services),
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=True,  # the client address and scheme from X-Forwarded-* of trusted proxies only
        forwarded_allow_ips=settings.trusted_proxies,
        server_header=False,
    )
    services.close()


@main.command()
@data_dir_opt
@faq_opt
@tickets_opt
def index(data_dir: Path | None, faq_dir: Path | None, tickets_dir: Path | None) -> None:
    """Build the FAISS index now (only new texts are embedded), then swap it in atomically.

    Example: helpdesk index --data-dir .helpdesk
    """
    from indexer.build import build_and_publish, total_work
    from indexer.embedders import load_embedders
    from indexer.store import IndexLocation

    s = _settings(data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    kb = _knowledge(s)
    for p in kb.problems:
        click.echo(f"warning: {p}", err=True)
    from bot.services import tuned_model

    embedders = load_embedders(s.models, s.model_cache_dir, tuned_model(s), s.e5_backend)
    total = total_work(kb, embedders)
    update, close = _progress_bar("embedding")
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        update(done[0], total)

    store = build_and_publish(kb, embedders, IndexLocation(s.index_dir), tick)
    close()
    click.echo(json.dumps({"path": str(store.path), **store.manifest.__dict__}, indent=2))


@main.group()
def agent() -> None:
    """Console accounts of support agents.

    Example: helpdesk agent add alice
    """


@agent.command("add")
@click.argument("username")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters."
)
@click.option("--name", help="Display name [USERNAME].")
@click.option(
    "--role",
    type=click.Choice(["agent", "editor", "admin"]),
    default="agent",
    show_default=True,
    help="agent: the queue; editor: also FAQ drafts; admin: also everyone's API tokens.",
)
@data_dir_opt
def agent_add(username: str, password: str, name: str | None, role: str, data_dir: Path | None) -> None:
    """Create or update a console sign-in (the password is stored as an argon2id hash).

    Example: helpdesk agent add alice --role editor --data-dir .helpdesk
    """
    from escalation.accounts import Accounts, Role

    storage = _storage(_settings(data_dir=data_dir))
    try:
        Accounts(storage.accounts).add(username, password, name, Role(role))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from None
    finally:
        storage.close()
    click.echo(f"agent {username!r} can sign in at /console")


@main.command("import-tickets")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_opt
def import_tickets(source: Path, data_dir: Path | None) -> None:
    """Validate resolved tickets (JSON lines) and add them to the desk's database.

    Every running replica picks them up in the background (only the new tickets are embedded;
    answering is never blocked). Broken lines are reported and skipped; ids already stored are kept.
    Example: helpdesk import-tickets exported.jsonl --data-dir .helpdesk
    """
    from knowledge.tickets import read_ticket_file

    tickets, problems = read_ticket_file(source)
    for p in problems[:20]:
        click.echo(str(p), err=True)
    storage = _storage(_settings(data_dir=data_dir))
    try:
        added = storage.tickets.add_many(tickets)
    finally:
        storage.close()
    click.echo(
        f"imported {added} tickets from {source}"
        + (f"; {len(tickets) - added} were already stored" if added < len(tickets) else "")
        + (f"; skipped {len(problems)} broken lines" if problems else "")
    )


@main.command("export-tickets")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_opt
def export_tickets(target: Path, data_dir: Path | None) -> None:
    """Write the resolved tickets of the database as JSON lines (the format import-tickets reads).

    Example: helpdesk export-tickets resolved.jsonl
    """
    storage = _storage(_settings(data_dir=data_dir))
    try:
        tickets = storage.tickets.all()
    finally:
        storage.close()
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_text("".join(t.to_json() + "\n" for t in tickets), encoding="utf-8")
    os.replace(tmp, target)
    click.echo(f"exported {len(tickets)} tickets to {target}")


@main.command()
@data_dir_opt
@click.option("--check", is_flag=True, help="Only list pending migrations; exit 1 if any.")
def migrate(data_dir: Path | None, check: bool) -> None:
    """Bring the database (SQLite file or HELPDESK_DATABASE_URL) to this version's schema.

    `helpdesk serve` does this at start as well; a database migrated by a newer version is refused.
    Example: HELPDESK_DATABASE_URL=postgresql://helpdesk@db/helpdesk helpdesk migrate
    """
    from escalation.storage import SchemaTooNew, open_database, redact_url

    s = _settings(data_dir=data_dir)
    try:
        db = open_database(s.database_url, s.data_dir, migrate=False, listen=False)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    where = redact_url(s.database_url) if s.database_url else str(s.db_path)
    try:
        pending = db.pending()
        if check:
            click.echo(f"{where}: " + (f"pending {', '.join(pending)}" if pending else "up to date"))
            sys.exit(1 if pending else 0)
        applied = db.migrate()
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()
    click.echo(f"{where} ({db.backend}): " + (f"applied {', '.join(applied)}" if applied else "up to date"))


@main.command()
@data_dir_opt
@click.option("--days", type=int, default=None, help="Keep transcripts this many days (default HELPDESK_RETENTION_DAYS).")
@click.option(
    "--action", type=click.Choice(["mask", "purge"]), default=None, help="Default HELPDESK_RETENTION_ACTION (mask)."
)
@click.option("--dry-run", is_flag=True, help="Only count what would change.")
def retention(data_dir: Path | None, days: int | None, action: str | None, dry_run: bool) -> None:
    """Mask (personal data replaced) or purge transcripts untouched for more than --days days.

    Conversations with an open handoff are kept as they are; resolved tickets were redacted when
    stored. The server runs this daily when HELPDESK_RETENTION_DAYS is set.
    Example: helpdesk retention --days 365 --action mask --dry-run
    """
    from escalation.retention import RetentionAction, apply_retention
    from escalation.storage import open_storage

    s = _settings(data_dir=data_dir)
    keep = s.retention_days if days is None else days
    if keep <= 0:
        raise click.UsageError("give --days N (or set HELPDESK_RETENTION_DAYS) with N >= 1")
    storage = open_storage(s.database_url, s.data_dir)
    try:
        done = apply_retention(storage, keep, RetentionAction(action or s.retention_action), dry_run)
    finally:
        storage.close()
    verb = ("would " if dry_run else "") + {"mask": "mask" if dry_run else "masked", "purge": "purge" if dry_run else "purged"}[done.action]
    click.echo(
        f"{verb} {done.conversations} conversations untouched since {done.cutoff}"
        + ("" if dry_run or done.action == "purge" else f" ({done.texts_masked} texts changed)")
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items())


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write [helpdesk-backup-<UTC time>.sqlite, or .pgdump on PostgreSQL, in this folder].",
)
@data_dir_opt
def backup(out: Path | None, data_dir: Path | None) -> None:
    """Back up the database (SQLite file or HELPDESK_DATABASE_URL) while the desk keeps running.

    SQLite: a consistent copy by SQLite's online backup API, integrity-checked; PostgreSQL: pg_dump
    in its custom format (restore it with `helpdesk restore`).
    Example: helpdesk backup --out /backups/helpdesk.sqlite --data-dir .helpdesk
    """
    from datetime import UTC, datetime

    from escalation.storage.backup import BackupError, backend_of
    from escalation.storage.backup import backup as take_backup

    s = _settings(data_dir=data_dir)
    try:
        backend = backend_of(s.database_url)
        if out is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = Path(f"helpdesk-backup-{stamp}" + (".sqlite" if backend == "sqlite" else ".pgdump"))
        info = take_backup(s.database_url, s.data_dir, out)
    except (BackupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    checked = f", integrity {info.integrity}" if info.backend == "sqlite" else ""
    click.echo(
        f"wrote {info.path} ({info.backend}, {info.bytes:,} bytes in {info.seconds:.2f} s{checked}): "
        f"{_counts(info.counts)}"
    )


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that exists already.")
@data_dir_opt
def restore(source: Path, force: bool, data_dir: Path | None) -> None:
    """Restore a `helpdesk backup` file into the database, then migrate it to this version's schema.

    Refused when the target (SQLite file or HELPDESK_DATABASE_URL) already holds a database, unless
    --force. SQLite: integrity-checked, copied in by the backup API; PostgreSQL: pg_restore --clean.
    Example: helpdesk restore helpdesk-backup-20260101T120000Z.sqlite --data-dir .helpdesk
    """
    from escalation.storage.backup import BackupError
    from escalation.storage.backup import restore as do_restore

    s = _settings(data_dir=data_dir)
    try:
        info = do_restore(s.database_url, s.data_dir, source, force)
    except (BackupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    schema = f"applied {', '.join(info.applied)}" if info.applied else "schema up to date"
    checked = f", integrity {info.integrity}" if info.backend == "sqlite" else ""
    click.echo(
        f"restored {info.source} into {info.target} ({info.backend}) in {info.seconds:.2f} s{checked}, "
        f"{schema}: {_counts(info.counts)}"
    )


@main.group()
def token() -> None:
    """Personal API tokens of agents (stored hashed; each acts as its agent).

    Example: helpdesk token create alice --label "alice's laptop"
    """


@token.command("create")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
@data_dir_opt
def token_create(username: str, label: str, data_dir: Path | None) -> None:
    """Create a token acting as USERNAME (a console account); prints it once."""
    from escalation.accounts import Accounts
    from escalation.errors import NotFound

    storage = _storage(_settings(data_dir=data_dir))
    try:
        token_id, value = Accounts(storage.accounts).create_token(username, label)
    except NotFound as exc:
        raise click.ClickException(f"{exc}; create it first with `helpdesk agent add {username}`") from None
    finally:
        storage.close()
    click.echo(f"token {token_id} for {username} (shown only now): ", err=True, nl=False)
    click.echo(value)


@token.command("revoke")
@click.argument("token_id", type=int)
@data_dir_opt
def token_revoke(token_id: int, data_dir: Path | None) -> None:
    """Revoke a token by its id (see `helpdesk token list`); it stops working on every replica at once."""
    storage = _storage(_settings(data_dir=data_dir))
    try:
        done = storage.accounts.revoke_token(token_id)
    finally:
        storage.close()
    if not done:
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")


@token.command("list")
@data_dir_opt
def token_list(data_dir: Path | None) -> None:
    """Every token: id, agent, label, created, revoked (never the token itself)."""
    storage = _storage(_settings(data_dir=data_dir))
    try:
        rows = storage.accounts.tokens()
    finally:
        storage.close()
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        click.echo(f"{r['id']}\t{r['username']}\t{r['label']}\t{r['created_at']}\t{state}")


@main.command("check-faq")
@click.argument("folder", type=click.Path(path_type=Path), default=Path("data/faq"))
def check_faq_cmd(folder: Path) -> None:
    """Validate FAQ files; print each problem with path and line; exit 1 on any. Entries missing
    a translation are warned about (they still load).

    Example: helpdesk check-faq data/faq
    """
    from knowledge.faq import load_faq, missing_translations

    entries, problems = load_faq(folder)
    for p in problems:
        click.echo(str(p), err=True)
    warnings = missing_translations(entries)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {folder}", err=True)
        sys.exit(1)
    note = f", {len(warnings)} missing translation(s)" if warnings else ""
    click.echo(f"{folder}: {len(entries)} entries OK ({len({e.id for e in entries})} ids{note})")


@main.command()
@click.argument("question")
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Detected when omitted.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON reply.")
@data_dir_opt
@faq_opt
@tickets_opt
def ask(
    question: str,
    lang: str | None,
    as_json: bool,
    data_dir: Path | None,
    faq_dir: Path | None,
    tickets_dir: Path | None,
) -> None:
    """Print what the bot would reply (nothing is stored).

    Example: helpdesk ask "怎么开红字发票" --json
    """
    from bot.flow import phrases
    from bot.services import build_services
    from knowledge.lang import detect_language

    s = _settings(data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    services = build_services(s)
    try:
        lang = lang or detect_language(question)
        reply = services.answerer.respond(
            question, lang, wants_human=phrases.wants_human(question), after_clarify=False
        )
        if as_json:
            click.echo(
                json.dumps(
                    {"reply": reply.public(), "reason": reply.reason, "candidates": reply.candidates},
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            click.echo(f"[{reply.kind} · confidence {reply.confidence:.2f} · {reply.reason}]")
            for src in reply.sources:
                click.echo(f"source: {src['title']} ({src['id']}, {src['lang']})")
            click.echo(reply.text)
            for sug in reply.suggestions:
                click.echo(f"  - {sug['title']} ({sug['id']})")
    finally:
        services.close()


@main.command()
@click.option(
    "--eval",
    "eval_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled questions (JSON lines) whose dev split joins the calibration [none: the FAQ alone].",
)
@click.option("--target-precision", type=float, help="Answer precision to guarantee [0.95].")
@click.option("--assumed-oos-share", type=float, help="Share of questions assumed out of scope [0.2].")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write it here, to pin it (HELPDESK_CALIBRATION_FILE)."
)
@data_dir_opt
@faq_opt
@tickets_opt
def calibrate(
    eval_file: Path | None,
    target_precision: float | None,
    assumed_oos_share: float | None,
    out: Path | None,
    data_dir: Path | None,
    faq_dir: Path | None,
    tickets_dir: Path | None,
) -> None:
    """Calibrate the bot on this knowledge base and say what its answers are guaranteed to be.

    Leave-one-out over the FAQ's own questions and linked tickets (each asked with itself left
    out, and with its whole entry left out), in customer-like variants, plus what conversations
    taught (answers marked wrong, questions agents resolved without an entry). The running desk
    does the same after every knowledge change; this command shows the result.
    Example: helpdesk calibrate --data-dir .helpdesk
    """
    from bot.services import build_services

    s = _settings(
        data_dir=data_dir,
        faq_dir=faq_dir,
        tickets_dir=tickets_dir,
        target_precision=target_precision,
        assumed_oos_share=assumed_oos_share,
        calibration_questions=eval_file,
    )
    s.calibration_file = None  # this command fits; a pinned file is what --out writes
    update, close = _progress_bar("indexing")
    services = build_services(s, progress=update)
    close()
    try:
        cal = services.runtime.snapshot.calibration
        if out is not None:
            cal.save(out)
        meta = cal.meta
        click.echo(
            json.dumps(
                {
                    "guarantee": meta.get("guarantee_text"),
                    "examples": meta.get("examples"),
                    "examples_by_source": meta.get("examples_by_source"),
                    "left_out_as_overlap": meta.get("left_out_as_overlap"),
                    "precision_lower_bound": meta.get("guarantee", {}).get("precision_lower_bound"),
                    "thresholds": cal.thresholds.__dict__,
                    "cross_validated": {
                        k: meta.get(k)
                        for k in ("cv_answer_precision_in_scope", "cv_coverage", "cv_oos_answered", "cv_ece")
                    },
                    "confusable_pairs": cal.confusable,
                    "fit_seconds": meta.get("fit_seconds"),
                    "written": str(out) if out else str(s.calibration_dir / f"{meta.get('key')}.json"),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    finally:
        services.close()


@main.command()
@click.option("--epochs", type=int, default=1, show_default=True, help="Passes over the training pairs.")
@click.option("--pairs-per-entry", type=int, default=40, show_default=True, help="Training pairs per FAQ entry.")
@data_dir_opt
@faq_opt
@tickets_opt
def tune(
    epochs: int, pairs_per_entry: int, data_dir: Path | None, faq_dir: Path | None, tickets_dir: Path | None
) -> None:
    """Fine-tune e5 on this knowledge base (its questions, titles, answers and linked tickets).

    Contrastive, on the CPU: three models (two of them without half of the questions each, to
    calibrate the tuned model on questions it never saw) take 5-15 minutes for a hundred entries.
    The result and its calibration are written aside under <data-dir>/models and made current in
    one atomic step; the desk uses them from its next start with HELPDESK_USE_TUNED_MODEL=true,
    for as long as the knowledge is the one it was tuned on.
    Example: helpdesk tune --data-dir .helpdesk
    """
    from tqdm import tqdm

    from bot.calibration.crossfit import tune_and_calibrate
    from indexer.embedders import UseEmbedder, default_model_cache
    from indexer.models.e5_rebuild import ensure_folder
    from indexer.tuning import TuneConfig, fingerprint, make_current

    s = _settings(data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    if list(s.models) != ["use-multilingual-v3", "multilingual-e5-small"]:
        raise click.UsageError("tuning needs the default models (use-multilingual-v3, multilingual-e5-small)")
    kb = _knowledge(s)
    for p in kb.problems:
        click.echo(f"warning: {p}", err=True)
    base = ensure_folder(s.model_cache_dir or default_model_cache())
    config = TuneConfig(epochs=epochs, max_pairs_per_entry=pairs_per_entry)
    target = s.models_dir / f"e5-tuned-{fingerprint(kb.faq_docs, base, config)}"
    bars: dict[str, tqdm] = {}  # type: ignore[type-arg]

    def progress(model: str, step: int, total: int, loss: float) -> None:
        bar = bars.get(model)
        if bar is None:
            bar = bars[model] = tqdm(total=total, desc=f"tuning {model}", unit="step", file=sys.stderr)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}")

    desk = tune_and_calibrate(
        kb,
        base,
        [UseEmbedder()],
        target,
        config,
        1 - s.target_precision,
        1 - s.guarantee_confidence,
        s.assumed_oos_share,
        cache=s.index_dir / "cache",
        progress=progress,
    )
    for bar in bars.values():
        bar.close()
    make_current(s.models_dir, target)
    click.echo(
        json.dumps(
            {
                "model": str(target),
                "current": str(s.models_dir / "current"),
                "guarantee": desk.calibration.meta.get("guarantee_text"),
                "tuning": [{"steps": r.steps, "seconds": r.seconds, "loss": [r.first_loss, r.last_loss]} for r in desk.reports],
                "use it": "HELPDESK_USE_TUNED_MODEL=true helpdesk serve",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
