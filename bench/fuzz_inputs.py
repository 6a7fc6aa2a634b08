"""The hostile-input campaign: a million configs and command lines, on every core, bounded in
time; prints each distinct traceback found (the goal is none).

    .venv/bin/python bench/fuzz_inputs.py [--inputs 1000000] [--cli-share 0.2]
                                          [--workers 2] [--max-seconds 1800] [--seed 1]

It runs the generators of ``tests/test_hostile_inputs.py`` (loaded from that file, so the
campaign and the CI properties cannot drift apart) with seeded ``random.Random``s: configs
through ``load_project_text``, ``parse_project``, ``parse_service`` and the Dockerfile
parser, where anything but a ``ConfigError`` of one-line problems is a finding; and argv for
every CLI command through click's ``CliRunner`` in process, where anything but a clean exit
is a finding. Each worker takes chunks of ``--chunk`` inputs with their own seeds until the
total or the time is reached. Output: each finding when found (grouped by the exception and
the line that raised it, with one input that reproduces it), then inputs per kind and the rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
GENERATORS = HERE.parent / "tests" / "test_hostile_inputs.py"
SHOWN = 400  # characters of a reproducing input printed


def _generators() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hostile_inputs", GENERATORS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside vigil (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/vigil/" in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{Path(last.filename).name}:{last.lineno} {last.name}" if last else "?"
    return f"{type(exc).__name__} at {where}"


def _chunk(task: tuple[int, int, float, float]) -> dict[str, Any]:
    """One worker's share: ``count`` inputs from ``seed``; stops at ``deadline``."""
    seed, count, cli_share, deadline = task
    gen = WORKER["gen"]
    run = WORKER["run"]
    paths = WORKER["paths"]
    from vigil.cli.main import cli

    rng = random.Random(seed)
    done = {"config": 0, "cli": 0}
    findings: dict[str, tuple[str, str]] = {}
    for index in range(count):
        if index % 100 == 0 and time.monotonic() > deadline:
            break
        case_seed = rng.getrandbits(64)
        if rng.random() < cli_share:
            argv = gen.hostile_argv(random.Random(case_seed), cli, paths)
            failure = run(argv)
            done["cli"] += 1
            if failure is not None:
                key = "CLI " + failure.strip().splitlines()[-1][:120]
                findings.setdefault(key, (repr(argv)[:SHOWN], failure[-2000:]))
            continue
        done["config"] += 1
        try:
            gen.config_case(random.Random(case_seed))
        except BaseException as exc:  # every other exception is what we look for
            if isinstance(exc, KeyboardInterrupt):
                raise
            key = "config " + _signature(exc)
            text = "".join(traceback.format_exception(exc))[-2000:]
            findings.setdefault(key, (f"config_case(random.Random({case_seed}))", text))
    return {"done": done, "findings": findings}


WORKER: dict[str, Any] = {}


def _init_worker(tmp: str) -> None:
    sys.setrecursionlimit(1000)  # the interpreter's default, as in the CLI
    gen = _generators()
    harness = gen.cli_harness(Path(tempfile.mkdtemp(dir=tmp)))
    run, paths = harness.__enter__()  # left open: the worker process ends with the pool
    WORKER.update(gen=gen, run=run, paths=paths, harness=harness)


def _tasks(args: argparse.Namespace, deadline: float) -> Iterator[tuple[int, int, float, float]]:
    seeds = random.Random(args.seed)
    left = args.inputs
    while left > 0:
        count = min(args.chunk, left)
        left -= count
        yield seeds.getrandbits(64), count, args.cli_share, deadline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--cli-share", type=float, default=0.2, help="share of CLI argv")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.max_seconds = min(max(args.max_seconds, 1.0), 6 * 3600.0)
    start = time.monotonic()
    deadline = start + args.max_seconds
    totals = {"config": 0, "cli": 0}
    findings: dict[str, tuple[str, str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="vigil-fuzz-inputs-") as tmp,
        multiprocessing.get_context("spawn").Pool(
            args.workers, initializer=_init_worker, initargs=(tmp,)
        ) as pool,
    ):
        for result in pool.imap_unordered(_chunk, _tasks(args, deadline)):
            for kind, count in result["done"].items():
                totals[kind] += count
            for key, (example, text) in result["findings"].items():
                if key not in findings:  # printed at once: a long run can be stopped early
                    print(f"\n=== {key}\n--- input: {example}\n{text}", flush=True)
                findings.setdefault(key, (example, text))
            done = sum(totals.values())
            if done % 50_000 < args.chunk:
                rate = done / (time.monotonic() - start)
                print(f"  {done:,} inputs, {rate:,.0f}/s, {len(findings)} findings", flush=True)
    elapsed = time.monotonic() - start
    total = sum(totals.values())
    print(
        f"{total:,} inputs ({totals['config']:,} configs, {totals['cli']:,} command lines) "
        f"in {elapsed:,.0f} s on {args.workers} workers: {total / elapsed:,.0f}/s; "
        f"{len(findings)} distinct tracebacks"
    )
    for key in sorted(findings):
        print(f"  {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
