"""`vqa2 batch INPUT... --csv FILE`: score whole folders into CSV/JSONL files that survive crashes.

The command parses the options, builds the :class:`~vqa2cli.jobs.engine.JobSpec`, runs the job
(:func:`~vqa2cli.jobs.engine.run_job`) and turns its stats into the summary and the exit code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import ExitCode
from ..jobs.prefetch import DEFAULT_WORKERS_SHOWN, default_workers
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .calibration_opts import CalibrationOpt, FailCalibratedOpt, FailUncertainOpt, record_gates
from .decode_opts import DecodeProcessesOpt, refuse_processes_with_server
from .explain import (
    AssistantOpt,
    AssistantQuantOpt,
    ExplainBelowOpt,
    ExplainOpt,
    ExplainQuestionOpt,
    ExplainTokensOpt,
    ExplainTopOpt,
)
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    FailUnderOpt,
    MaxMotionOpt,
    ModelOpt,
    OfflineOpt,
    OneVariantOpt,
    PolicyOpt,
    QuantCacheOpt,
    QuantOpt,
    QuietOpt,
    ScoringPromptOpt,
    ServerPathsOpt,
    StreamOpt,
    StrictOpt,
    VerboseOpt,
    refuse_with_server,
    scoring_settings,
    start_console,
)
from .segments import FailSegmentOpt, PlotDirOpt, PoolOpt, SegmentsCsvOpt, SegmentsOpt

EXAMPLES = """Examples:

  vqa2 batch encodes/ --csv scores.csv

  vqa2 batch 'night/**/*.mkv' @extra.txt --jsonl scores.jsonl --csv scores.csv --workers 8

  vqa2 batch encodes/ --csv scores.csv --workers 12 --decode-processes 12   # a 16-core GPU box

  vqa2 batch encodes/ --csv scores.csv --resume          # after a crash: skip finished files

  vqa2 batch encodes/ --csv part3.csv --shard 3/8        # Slurm array / Kubernetes job 3 of 8

  vqa2 batch x264-out/ --csv scores.csv --strict          # .264/.265 found too; damaged files are error rows

  torchrun --nproc-per-node 4 -m vqa2cli batch encodes/ --csv scores.csv   # 4 GPUs, one CSV

  vqa2 batch episodes/ --csv scores.csv --segments 10s --segments-csv windows.csv --plot-dir plots/

  vqa2 batch encodes/ --jsonl scores.jsonl --explain --resume   # and say why

  vqa2 batch encodes/ --csv scores.csv --server http://gpu1:8000 --server http://gpu2:8000

Rows are appended and fsync'd as each file finishes, so an interrupted run keeps every finished row;
--resume skips files whose path, size and mtime match a row (error rows included unless --retry-errors)
and appends the rest. An existing output is never truncated without --overwrite, and is locked while a
run writes it (a second run on it is refused, naming the first; exit 2). A file that fails is an error row."""


def exit_code(job, stats, console, windows) -> ExitCode:
    """The summary on stderr (and --summary JSON on stdout); exit code: 130 > 3 > 1 (--fail-under, then
    --fail-segment-under) > 0. A torchrun rank other than 0 exits 0: rank 0 reports for every rank."""
    if stats.rank_part:
        return ExitCode.OK
    from ..jobs.engine import RESUME_HINT
    from ..pipeline import interrupts

    outputs = [o.path for o in job.outputs()]
    # the window outputs (the SegmentPlan's) are outputs of the run too: --summary's `outputs`
    outputs += [p for p in (windows.csv, windows.plot_dir) if p]
    console.info(f"batch: {stats.summary()} -> {', '.join(outputs)}")
    if stats.interrupted:  # the one interrupted line (cli/app.py) says so, and how to go on
        interrupts.keep(f"{RESUME_HINT} ({', '.join(outputs)})")
    if job.summary:
        from ..output.render import make_writer

        writer = make_writer("jsonl", sys.stdout, "batch")
        writer.write(stats.summary_record(outputs))
        writer.close()
    if stats.interrupted:
        return ExitCode.INTERRUPTED
    if stats.any_failed:
        return ExitCode.INPUT
    if stats.below:
        console.error(f"{stats.below} file(s) scored below --fail-under {job.fail_under}")
        return ExitCode.GATE_FAILED
    if stats.segment_failed:
        console.error(
            f"{stats.segment_failed} file(s) have a window below --fail-segment-under "
            f"{windows.fail_segment_under}"
        )
        return ExitCode.GATE_FAILED
    return ExitCode.OK


InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="INPUT...",
        show_default=False,
        help="Folders (recursive), globs ('dir/**/*.mp4'), video files, or @LIST (a file of such inputs).",
    ),
]


def batch(
    inputs: InputsArg = None,
    csv: Annotated[
        str | None,
        typer.Option(
            "--csv", metavar="FILE", help="Write one CSV row per file (same columns as `score --format csv`)."
        ),
    ] = None,
    jsonl: Annotated[
        str | None, typer.Option("--jsonl", metavar="FILE", help="Write one JSON record per file per line.")
    ] = None,
    vmaf_json: Annotated[
        str | None,
        typer.Option(
            "--vmaf-json",
            metavar="FILE",
            help="Write one libvmaf-layout JSON log per file per line (docs/vmaf-json.md).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Skip files the output(s) already hold (same path, size, mtime); append the rest.",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Start existing output file(s) again from empty.")
    ] = False,
    retry_errors: Annotated[
        bool,
        typer.Option(
            "--retry-errors",
            help="With --resume: score files again whose row is an error (the new row is appended; the last row per path is current).",
        ),
    ] = False,
    from_file: Annotated[
        list[str] | None,
        typer.Option("--from-file", metavar="LIST", help="A text file of inputs, one per line (like @LIST)."),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders of folder inputs.")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help=f"Decode workers running ahead of the model (0 = decode in the main thread). [default: {DEFAULT_WORKERS_SHOWN}]",
        ),
    ] = None,
    decode_processes: DecodeProcessesOpt = DEFAULT_DECODE_PROCESSES,
    prefetch: Annotated[
        int | None,
        typer.Option(
            "--prefetch",
            metavar="N",
            help="Most clips decoded ahead of the model (bounds memory). [default: 2 x workers]",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Score only shard K of N (1-based; files split by a stable hash of their path).",
        ),
    ] = None,
    fail_under: FailUnderOpt = None,
    calibration: CalibrationOpt = None,
    fail_calibrated_under: FailCalibratedOpt = None,
    fail_uncertain_over: FailUncertainOpt = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="Also print a JSON summary of the run on stdout.")
    ] = False,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    prompt: ScoringPromptOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    segments: SegmentsOpt = None,
    pool: PoolOpt = None,
    segments_csv: SegmentsCsvOpt = None,
    fail_segment_under: FailSegmentOpt = None,
    plot_dir: PlotDirOpt = None,
    explain: ExplainOpt = False,
    assistant: AssistantOpt = None,
    explain_top: ExplainTopOpt = None,
    explain_below: ExplainBelowOpt = None,
    explain_question: ExplainQuestionOpt = None,
    assistant_quant: AssistantQuantOpt = None,
    max_new_tokens: ExplainTokensOpt = None,
    strict: StrictOpt = None,
    stream: StreamOpt = None,
    offline: OfflineOpt = False,
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="Send the files to `vqa2 serve` server(s) (or VQA2_SERVER; token from VQA2_TOKEN); repeat to spread files over several.",
        ),
    ] = None,
    server_paths: ServerPathsOpt = False,
    variant: OneVariantOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score every video of folders, globs or path lists into CSV/JSONL files (resumable, shardable).

    INPUT is a folder (searched recursively), a quoted glob ('dir/**/*.mp4'), a video file, or @LIST (a
    text file of such inputs, one per line). Inside folders and globs, videos are recognised by extension
    (case-insensitive; raw .264/.265/.h264/.hevc/.m2v/.obu streams included) or, without a known one, by
    their content (magic bytes, raw-stream start codes, FFmpeg's probe); other files are skipped and counted
    by reason. Files are scored in sorted path order; a broken file gets an error row and the batch goes on.
    With --strict a partially decoded or damaged file gets an error row (damaged_input) too.
    """
    from ..inputs.manifest import single_variant
    from ..jobs.distributed import rank_device
    from ..jobs.engine import JobSpec

    console = start_console(quiet, verbose)
    job = JobSpec(
        inputs=list(inputs or []),
        from_files=list(from_file or []),
        csv=csv,
        jsonl=jsonl,
        vmaf_json=vmaf_json,
        resume=resume,
        overwrite=overwrite,
        retry_errors=retry_errors,
        recursive=recursive,
        workers=default_workers() if workers is None else workers,
        decode_processes=decode_processes,
        prefetch=prefetch,
        shard=shard,
        fail_under=fail_under,
        summary=summary,
        offline=offline,
        gates=record_gates(calibration, fail_calibrated_under, fail_uncertain_over),
        variant=single_variant(variant, "batch"),
    )
    job.validate()
    from ..jobs.windows import segment_options
    from ..remote.client import server_urls

    flags = {"segments_csv": segments_csv, "fail_segment_under": fail_segment_under, "plot_dir": plot_dir}
    from ..jobs.explain_batch import run_explained_batch
    from .explain import explain_request

    explaining = explain_request(
        explain,
        assistant=assistant,
        top=explain_top,
        below=explain_below,
        question=explain_question,
        assistant_quant=assistant_quant,
        max_new_tokens=max_new_tokens,
        quant=quant,
        device=device,
        dtype=dtype,
        config=config,
        offline=offline,
        server=server_urls(server),
    )
    if urls := server_urls(server):
        refuse_with_server(quant_cache)
        refuse_processes_with_server(decode_processes)
        options = {
            "config": config,
            "model": model,
            "prompt": prompt,
            "device": device,
            "dtype": dtype,
            "quant": quant,
            "max_motion_frames": max_motion_frames,
            "long_clip": long_clip,
            "strict": strict,
            "stream": stream,
        }
        settings, windows = _remote(job, urls, server_paths, options, segments, pool, flags, console)
        raise typer.Exit(int(_run(job, settings, None, console, windows)))
    settings, ref = scoring_settings(
        "batch",
        model,
        config,
        prompt=prompt,
        device=rank_device(device),
        dtype=dtype,
        quant=quant,
        max_motion_frames=max_motion_frames,
        long_clip=long_clip,
        strict=strict,
        quant_cache=quant_cache,
        stream=stream,
    )
    settings, windows = segment_options(settings, segments=segments, pool=pool, **flags)
    job.gates.check_config(settings.to_dict())  # a calibration for other settings: refused before loading
    if explaining is not None:
        from ..jobs.engine import refuse_network_inputs

        refuse_network_inputs(
            job, "batch --explain reads each file again after scoring: not -, URLs, manifests"
        )

        def finish(job, stats, console, windows) -> ExitCode:  # the batch's exit code, then the gates'
            return job.gates.exit_code(exit_code(job, stats, console, windows), console)

        raise typer.Exit(int(run_explained_batch(job, settings, ref, console, windows, explaining, finish)))
    raise typer.Exit(int(_run(job, settings, ref, console, windows)))


def _remote(job, urls, server_paths, options, segments, pool, flags, console):
    """``--server``: the servers' settings and the window plan; ``job.remote`` sends them the files."""
    from ..remote.scorers import RemoteBatchScorer, collect_options, connect_scoring

    options = collect_options(**options)
    clients, settings, windows = connect_scoring(
        urls, options, segments=segments, pool=pool, window_flags=flags, console=console
    )
    job.remote = RemoteBatchScorer(clients, options, server_paths)
    return settings, windows


def _run(job, settings, ref, console, windows) -> ExitCode:
    from ..jobs.engine import run_job

    return job.gates.exit_code(
        exit_code(job, run_job(job, settings, ref, console, windows), console, windows), console
    )


def register(app: typer.Typer) -> None:
    app.command("batch", epilog=EXAMPLES)(batch)
