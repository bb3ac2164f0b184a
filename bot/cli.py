"""The ``helpdesk`` command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bot.settings import Settings

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


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

    from bot.app import create_app
    from bot.services import agent_token, build_services

    settings = _settings(host=host, port=port, data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    token, created = agent_token(settings)
    update, close = _progress_bar("indexing")
    services = build_services(settings, progress=update)
    close()
    for p in services.runtime.problems:
        click.echo(f"warning: {p}", err=True)
    if created:
        click.echo(f"Agent API token (stored in {settings.data_dir / 'agent_token'}): {token}", err=True)
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
    uvicorn.run(create_app(settings, services), host=settings.host, port=settings.port, log_level="info")
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
    from knowledge.corpus import load_knowledge

    s = _settings(data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir)
    kb = load_knowledge(s.faq_dir, s.ticket_dirs)
    for p in kb.problems:
        click.echo(f"warning: {p}", err=True)
    embedders = load_embedders(s.models)
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
@data_dir_opt
def agent_add(username: str, password: str, name: str | None, data_dir: Path | None) -> None:
    """Create or update a console sign-in (the password is stored as a scrypt hash).

    Example: helpdesk agent add alice --data-dir .helpdesk
    """
    from escalation.accounts import Accounts
    from escalation.store import SqliteStore

    s = _settings(data_dir=data_dir)
    store = SqliteStore(s.db_path)
    try:
        Accounts(store).add(username, password, name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from None
    finally:
        store.close()
    click.echo(f"agent {username!r} can sign in at /console")


@main.command("import-tickets")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_opt
def import_tickets(source: Path, data_dir: Path | None) -> None:
    """Validate resolved tickets (JSON lines) and add them to the data directory.

    A running service picks them up in the background: only the new tickets are embedded, and
    answering is never blocked. Broken lines are reported and skipped.
    Example: helpdesk import-tickets exported.jsonl --data-dir .helpdesk
    """
    from tqdm import tqdm

    from knowledge.tickets import parse_ticket

    s = _settings(data_dir=data_dir)
    target = s.resolved_tickets_dir / f"import-{source.stem}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".jsonl.part")
    good = bad = 0
    with source.open(encoding="utf-8") as fh, tmp.open("w", encoding="utf-8") as out:
        total = sum(1 for _ in fh)
        fh.seek(0)
        for lineno, line in enumerate(
            tqdm(fh, total=total, desc="importing", unit="ticket", file=sys.stderr), 1
        ):
            if not line.strip():
                continue
            try:
                ticket = parse_ticket(line)
            except ValueError as exc:
                bad += 1
                if bad <= 20:
                    click.echo(f"{source} line {lineno}: {exc}", err=True)
                continue
            out.write(ticket.to_json() + "\n")
            good += 1
    os.replace(tmp, target)  # the watcher sees the whole file at once, never half of it
    click.echo(f"imported {good} tickets into {target}" + (f"; skipped {bad} broken lines" if bad else ""))


@main.command("check-faq")
@click.argument("folder", type=click.Path(path_type=Path), default=Path("data/faq"))
def check_faq_cmd(folder: Path) -> None:
    """Validate FAQ files; print each problem with path and line; exit 1 on any.

    Example: helpdesk check-faq data/faq
    """
    from knowledge.faq import load_faq

    entries, problems = load_faq(folder)
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {folder}", err=True)
        sys.exit(1)
    click.echo(f"{folder}: {len(entries)} entries OK ({len({e.id for e in entries})} ids)")


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
    from bot import phrases
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
    type=click.Path(exists=True, path_type=Path),
    default=Path("data/eval/questions.jsonl"),
    show_default=True,
    help="Labelled questions (JSON lines).",
)
@click.option("--target-precision", type=float, help="Answer precision to reach [0.95].")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write [<data-dir>/calibration.json].")
@data_dir_opt
@faq_opt
@tickets_opt
def calibrate(
    eval_file: Path,
    target_precision: float | None,
    out: Path | None,
    data_dir: Path | None,
    faq_dir: Path | None,
    tickets_dir: Path | None,
) -> None:
    """Fit ranking weights, confidence and thresholds on the dev split of an eval file.

    The test split is never used here. The service uses the result at its next start.
    Example: helpdesk calibrate --eval data/eval/questions.jsonl
    """
    from bot.calibration import default_weights
    from bot.evalset import load_questions
    from bot.fitting import cross_lingual_conditions, fit_calibration
    from bot.runtime import KnowledgeRuntime
    from indexer.embedders import load_embedders

    s = _settings(
        data_dir=data_dir, faq_dir=faq_dir, tickets_dir=tickets_dir, target_precision=target_precision
    )
    embedders = load_embedders(s.models)
    runtime = KnowledgeRuntime(
        s.faq_dir, [s.tickets_dir], s.index_dir / "calibration-index", embedders, default_weights(s.models)
    )
    dev = load_questions(eval_file, "dev")
    retriever = runtime.snapshot.retriever
    vectors = retriever.encode([q.question for q in dev])
    extra = cross_lingual_conditions(runtime.snapshot.kb, embedders, dev, vectors, runtime.location.cache)
    cal = fit_calibration(retriever, dev, s.target_precision, vectors=vectors, extra=extra)
    target = out or (s.data_dir / "calibration.json")
    cal.save(target)
    click.echo(
        json.dumps(
            {
                "written": str(target),
                "thresholds": cal.thresholds.__dict__,
                "meta": cal.meta,
                "ranking": cal.ranking.weights,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
