"""`genolm explain-run`: a prose summary of a finished run (and next experiments), every number grounded."""

from __future__ import annotations

from typing import Optional

from genolm.core.registry import Arg, Opt, echo, task


@task("explain-run")
def explain_run(
    run_dir: str = Arg(
        ...,
        metavar="RUN_DIR",
        help="A genolm run directory, a result file (scored VCF, guides TSV) or a job directory (jobs/<id>).",
    ),
    out: str = Opt(..., "--out", metavar="MD", help="summary.md to write (summary.json is written beside it)."),
    llm_url: Optional[str] = Opt(
        None,
        "--llm-url",
        metavar="URL",
        envvar="GENOLM_LLM_URL",
        local_only=True,
        help="OpenAI-compatible server (e.g. `genolm serve llm`); default: $GENOLM_LLM_URL, else offline.",
    ),
    llm_model: Optional[str] = Opt(
        None,
        "--llm-model",
        metavar="NAME",
        envvar="GENOLM_LLM_MODEL",
        help="Model name (default: $GENOLM_LLM_MODEL, else the server's first).",
    ),
    llm_key: Optional[str] = Opt(
        None,
        "--llm-key",
        metavar="KEY",
        envvar="OPENAI_API_KEY",
        local_only=True,
        help="API key (default: $OPENAI_API_KEY); sent only over https or loopback.",
    ),
    suggest: bool = Opt(False, "--suggest", help="Add next experiments, each tied to the fact it rests on."),
    max_tokens: int = Opt(600, "--max-tokens", metavar="N", min=16, max=4096, help="Longest LLM answer in tokens."),
) -> None:
    """Explain a run in prose: inputs, metrics with baselines, top guides/variants/genes, caveats.

    Every number is quoted from the run's files. Offline template without --llm-url; with an LLM, its
    sentences quoting numbers the run lacks are removed (listed in a note), and an answer with too
    little grounded text falls back to the template.
    """
    from genolm.core.runsummary_write import explain, write

    complete = None
    name = None
    client = None
    if llm_url:
        from genolm.literature.llm import LLMClient

        client = LLMClient(llm_url, model=llm_model, api_key=llm_key)
        name = client.model

        def complete(messages: list[dict]) -> str:
            return client.chat(messages, max_tokens=max_tokens, temperature=0.2, seed=0)

    try:
        md, result = explain(run_dir, complete=complete, suggest=suggest, llm_name=name)
    finally:
        if client is not None:
            client.close()
    js = write(out, md, result)
    removed = len(result.get("llm", {}).get("removed", []))
    echo(
        f"explain-run: {len(result['facts']['parts'])} part(s), written by the {result['writer']}, "
        f"{len(result['cited_numbers'])} numbers cited"
        + (f", {removed} sentences removed" if removed else "")
        + f" -> {out}, {js}"
    )
