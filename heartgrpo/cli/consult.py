"""``heartgrpo consult`` (one consultation in the terminal) and ``heartgrpo cases generate|list``.

    heartgrpo consult --case cp-stemi-aspirin-allergy --model M --base-url URL [--patient human]
    heartgrpo cases generate --out runs/cases --model M --base-url URL --per-topic 2
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import VerboseOpt, _run, _setup, _summary

__all__ = ["cases_app", "consult"]


def consult(
    case: str = typer.Option(..., "--case", help="card id (see `heartgrpo cases list`)"),
    model: str = typer.Option(..., "--model", help="the doctor: model name at the endpoint"),
    base_url: str = typer.Option(..., "--base-url", help="the doctor's OpenAI-compatible endpoint"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env"),
    patient: str = typer.Option("scripted", "--patient", help="scripted | llm | human (you play the patient)"),
    patient_model: str = typer.Option(None, "--patient-model", help="with --patient llm"),
    patient_base_url: str = typer.Option(None, "--patient-base-url", help="with --patient llm (default: the doctor's)"),
    cases: list[Path] = typer.Option(None, "--cases", help="card files or folders (default: the shipped heart cases)"),
    max_turns: int = typer.Option(6, "--max-turns"),
    verbose: bool = VerboseOpt,
) -> None:
    """Run one consultation: a doctor model against a patient behind the fact gate."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.io.asyncs import run_sync
        from heartgrpo.config.run import ConfigError
        from heartgrpo.consult.cards import builtin_cards, load_cards
        from heartgrpo.consult.patient import HumanPatient, LLMPatient, ScriptedPatient
        from heartgrpo.consult.play import play
        from heartgrpo.io.endpoint import Endpoint

        cards = {c.id: c for c in (load_cards(cases) if cases else builtin_cards())}
        if case not in cards:
            raise ConfigError(f"--case {case!r}: no such card; known: {', '.join(sorted(cards))}")
        card = cards[case]
        if patient == "scripted":
            p = ScriptedPatient(card)
        elif patient == "human":
            p = HumanPatient(card, ask=lambda prompt: typer.prompt(prompt.rstrip("> "), default="", show_default=False),
                             show=lambda text: typer.secho(text, dim=True))
        elif patient == "llm":
            if not patient_model:
                raise ConfigError("--patient llm needs --patient-model")
            p = LLMPatient(card, Endpoint(patient_model, patient_base_url or base_url, api_key_env))
        else:
            raise ConfigError(f"--patient {patient!r}: expected scripted, llm or human")
        doctor = Endpoint(model, base_url, api_key_env)
        episode = run_sync(play(card, doctor, p, max_turns=max_turns, show=lambda role, text: typer.echo(f"{role}> {text}")))
        s = episode.summary()
        _summary("consult", [("case", card.id), ("doctor questions", s["questions"]), ("facts released", ", ".join(s["released"]) or "none"),
                             ("facts not asked for", ", ".join(f.id for f in p.gate.unreleased()) or "none"),
                             ("overshared by the patient", ", ".join(s["overshared"]) or "none"),
                             ("failed", s["failed"] or "no")])

    _run(go)


cases_app = typer.Typer(no_args_is_help=True, help="Case cards for consultations: list, check, generate.")


@cases_app.command("list")
def cases_list(cases: list[Path] = typer.Option(None, "--cases", help="card files or folders (default: the shipped cases)")) -> None:
    """List the cards (validated on load)."""
    def go() -> None:
        from heartgrpo.consult.cards import builtin_cards, load_cards

        for c in load_cards(cases) if cases else builtin_cards():
            typer.echo(f"{c.id:32s} {c.topic:16s} {len(c.facts)} facts  {c.chief_complaint}")

    _run(go)


@cases_app.command("generate")
def cases_generate(
    out: Path = typer.Option(..., "--out", "-o", help="output directory (rerun to resume)"),
    model: str = typer.Option(..., "--model", help="model name at the endpoint"),
    base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible endpoint"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env"),
    topics: list[str] = typer.Option(None, "--topic", help="topic (repeatable; default: every heart topic)"),
    per_topic: int = typer.Option(1, "--per-topic"),
    cache: Path = typer.Option(None, "--cache", help="SQLite cache of model answers (default: <out>/cache.sqlite)"),
    max_attempts: int = typer.Option(3, "--max-attempts"),
    verbose: bool = VerboseOpt,
) -> None:
    """Write case cards with an LLM; each is validated and checked, failures kept in failed.jsonl."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.config.consult import CaseGenSettings
        from heartgrpo.consult.generate import generate_cases

        settings = CaseGenSettings(model=model, base_url=base_url, api_key_env=api_key_env, cache=cache or out / "cache.sqlite",
                                   max_attempts=max_attempts)
        r = generate_cases(out, settings, topics=topics or None, per_topic=per_topic)
        _summary("cases generate", [("output", r.out_dir / "cases.jsonl"), ("accepted / failed", f"{r.n_accepted} / {r.n_failed}"),
                                    ("skipped (done before)", r.n_skipped_done), ("requests / cache hits", f"{r.requests} / {r.cache_hits}")])

    _run(go)
