"""The batch loop of ``inktrace predict`` and ``inktrace trace``: every image through the model and
the command's writer, in one process or ``--workers N``, with a progress bar, ``--skip-existing``
and a ``--report`` of one JSON line per image.

**Images** come from the IMAGE arguments (files, folders, glob patterns: inputs.py); each names
its outputs ``DIR/<stem><suffix>`` (images.plan_outputs refuses a second image with the same stem).

**Chunks.** Images are predicted in chunks: up to ``--batch-size`` consecutive images whose header
says they fit in one tile share the model's forward passes; a larger image (a page) is a chunk of
its own. The chunks depend on the images alone, never on ``--workers``, so every worker count
writes the same files (batching changes the maps by float rounding: the same chunks, the same
numbers).

**Workers.** ``--workers 1`` (default) runs the chunks here. ``--workers N`` starts N processes
(spawned; each loads the model once and uses its share of the CPU threads) and hands them chunks;
the lines on stdout and the report come back in the images' order whatever finishes first. A
worker that dies (killed, out of memory) fails its chunk and the chunks not yet done: status 1.

**Errors.** An image that cannot be read is one line on stderr naming it (exit status 2 at the
end); one that fails otherwise (out of memory, a file that cannot be written) is status 1; the
others are processed either way.

**Restart.** With ``--skip-existing`` an image whose outputs all exist is skipped. Every output is
written atomically (a temporary file renamed into place), so a run killed half-way leaves whole
files or none, never a half file that a rerun would take as done.

**Measuring ahead.** With ``--workers 1`` and ``--scale auto`` on Linux, a forked process reads
the next chunk's images and measures their scale (the stroke width and the characters' size:
inference/scale.py, single-threaded NumPy) while this process loads the model (importing PyTorch)
and runs the current chunk; only the two numbers per image come back. The first page's
measurement then costs no wall time (the 4000 x 3000 bench page: 1.2 s of 12). Should the process
die, the images are measured here, with the same result.

**Progress.** A tqdm bar over the images on stderr, only when stderr is a terminal.

**Report** (``--report FILE.jsonl``): one line per image in the images' order, written as the run
goes (a killed run's report lists what was done): ``{"image": path, "status": "ok" | "skipped" |
"error", "strokes": n (trace) or null, "seconds": s, "error": message or null}``. ``seconds`` is
the image's reading, its share of its chunk's prediction and its writing. A report path that is
a folder, an input, one of the run's outputs or a file that is not a report is refused before
the model loads; a report that cannot be written as the run goes (a full disk) is said in one
line, and the images go on (exit status 1).
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from ..children import end_with_parent
from ..errors import WriteError, printable
from ..fileio import output_problem
from ..inference.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    image_size,
    load_image,
    size_refusal,
)
from ..inference.pipeline import DEFAULT_BATCH_SIZE, DEFAULT_TILE, MapPredictor, Prediction
from ..inference.scale import GLYPH_SIZE, image_scale
from .args import UsageError
from .image_commands import (
    ImageFailed,
    check_settings,
    make_predictor,
    plan_outputs,
    scale_setting,
)
from .inputs import expand_inputs

__all__ = [
    "Written",
    "Outcome",
    "Writer",
    "run_images",
    "plan_chunks",
    "measure_chunk",
    "usable_cores",
]


@dataclass
class Written:
    """What a command's writer did with one image: its stdout line, and its strokes (trace)."""

    line: str
    strokes: int | None = None


# (prediction, the grayscale image it was made from, DIR/<stem> without a suffix) -> Written
Writer = Callable[[Prediction, np.ndarray, Path], Written]
# (the command line, the CPU cores the writer may use) -> the command's writer (a module-level
# function: workers receive it by name)
WriterFactory = Callable[[Any, int], Writer]


@dataclass
class Outcome:
    """One image's line of the report, and how it ended (``code``: 0, 1 failed, 2 bad input)."""

    image: str
    status: str  # ok, skipped, error
    strokes: int | None
    seconds: float
    error: str | None
    code: int = 0
    line: str | None = None

    def record(self) -> str:
        data = asdict(self)
        del data["code"], data["line"]
        data["seconds"] = round(self.seconds, 3)
        return json.dumps(data)


def _out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    text = str(exc).lower()
    return not isinstance(exc, RuntimeError) or "out of memory" in text or "can't allocate" in text


def plan_chunks(
    jobs: Sequence[tuple[str, Path]], batch_size: int, tile: int
) -> list[list[tuple[str, Path]]]:
    """Consecutive jobs in chunks of at most ``batch_size``; an image larger than ``tile`` x
    ``tile`` px (from its header) alone (module docstring). Unreadable headers count as small:
    load_image reports them."""
    chunks: list[list[tuple[str, Path]]] = []
    current: list[tuple[str, Path]] = []
    for job in jobs:
        size = image_size(job[0])
        if size is not None and size[0] * size[1] > tile * tile:
            if current:
                chunks.append(current)
                current = []
            chunks.append([job])
            continue
        current.append(job)
        if len(current) == batch_size:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


Scale = tuple[float, float | None]  # (scale, stroke width), as MapPredictor.choose_scale


def measure_chunk(
    chunk: Sequence[tuple[str, Path]], max_pixels: int | None, invert: bool
) -> list[Scale | None]:
    """The scale of each of the chunk's images, as the model's pipeline would choose it with
    ``--scale auto`` (None for an image that cannot be read: the chunk reports it)."""
    out: list[Scale | None] = []
    for name, _ in chunk:
        try:
            image = load_image(name, max_pixels)
        except ImageError:
            out.append(None)
            continue
        out.append(image_scale(1.0 - image if invert else image, GLYPH_SIZE))
    return out


def _measuring_child(parent: int) -> None:
    """The measuring process's start: it ends with its parent (children.py), and it writes
    nothing to the terminal (results come back through the pool)."""
    end_with_parent(parent)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


class _Measurer:
    """``measure_chunk`` of the chunks in order, one chunk ahead, in a forked process (module
    docstring); ``scales(k)`` waits for chunk k's (None for each image where the process could
    not: the chunk is measured in this one). Where no process can be forked (not Linux, a
    daemonic process, one core, no process left to the user, no semaphores) every chunk is
    measured in this one."""

    def __init__(
        self, chunks: Sequence[Sequence[tuple[str, Path]]], max_pixels: int | None, invert: bool
    ) -> None:
        self.chunks, self.settings = chunks, (max_pixels, invert)
        self.futures: dict[int, Future] = {}
        self.pool: ProcessPoolExecutor | None = None
        linux = sys.platform.startswith("linux")
        if linux and not multiprocessing.current_process().daemon and usable_cores() > 1:
            try:
                self.pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_measuring_child,
                    initargs=(os.getpid(),),
                )
            except (OSError, NotImplementedError, ValueError):
                self.pool = None
        self._submit(0)

    def _submit(self, k: int) -> None:
        if self.pool is not None and k < len(self.chunks) and k not in self.futures:
            try:  # (the process is forked here, at the first submission)
                self.futures[k] = self.pool.submit(measure_chunk, self.chunks[k], *self.settings)
            except (OSError, NotImplementedError, BrokenProcessPool, RuntimeError):
                self.close(kill=True)

    def scales(self, k: int) -> list[Scale | None]:
        self._submit(k)
        future = self.futures.pop(k, None)
        self._submit(k + 1)  # the next chunk is measured while this one runs
        try:
            if future is not None:
                return future.result()
        except Exception:  # killed, out of memory, anything: measured here from now on
            self.close(kill=True)
        return [None] * len(self.chunks[k])

    def close(self, kill: bool = False) -> None:
        """Stop measuring; ``kill``: without waiting for a measure under way (an error or an
        interruption: the run ends now)."""
        if self.pool is not None:
            if kill:
                _kill(self.pool)
            else:
                self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self.futures.clear()


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: its processes killed (what they are running and what is queued for
    them is lost: outputs are written whole or not at all), nothing waited for. The executor
    keeps its processes in ``_processes`` (CPython 3.8-3.13); where it does not, they end with
    this process (children.py)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def run_chunk(
    chunk: Sequence[tuple[str, Path]],
    predictor: MapPredictor,
    write: Writer,
    max_pixels: int | None,
    invert: bool,
    suffix: str,
    scales: Sequence[Scale | None] | None = None,
) -> list[Outcome]:
    """Read, predict and write the images of one chunk; one Outcome per image, in order.
    ``scales``: the images' measured already (``measure_chunk``), or None to measure them here."""
    outcomes: dict[str, Outcome] = {}
    loaded, measured = [], []
    for k, (name, base) in enumerate(chunk):
        t0 = time.perf_counter()
        try:
            image = load_image(name, max_pixels)
        except ImageError as exc:
            outcomes[name] = Outcome(name, "error", None, time.perf_counter() - t0, str(exc), 2)
            continue
        loaded.append((name, base, 1.0 - image if invert else image, time.perf_counter() - t0))
        measured.append(None if scales is None else scales[k])
    if loaded:
        t0 = time.perf_counter()
        try:
            results = predictor.predict_many([image for _, _, image, _ in loaded], measured)
        except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
            if isinstance(exc, RuntimeError) and not _out_of_memory(exc):
                raise
            message = "out of memory (try a smaller --tile or --batch-size)"
            for name, _, _, spent in loaded:
                outcomes[name] = Outcome(name, "error", None, spent, f"{name}: {message}", 1)
            results = []
        share = (time.perf_counter() - t0) / len(loaded)
        for (name, base, image, spent), result in zip(loaded, results):
            t0 = time.perf_counter()
            try:
                written = write(result, image, base)
            except WriteError as exc:  # it names the file that failed
                error = f"{name}: {exc}"
                outcomes[name] = Outcome(name, "error", None, spent + share, error, 1)
                continue
            except OSError as exc:
                error = f"{name}: cannot write {base}{suffix} ({exc.strerror or exc})"
                outcomes[name] = Outcome(name, "error", None, spent + share, error, 1)
                continue
            except ImageFailed as exc:
                outcomes[name] = Outcome(name, "error", None, spent + share, f"{name}: {exc}", 1)
                continue
            seconds = spent + share + time.perf_counter() - t0
            outcomes[name] = Outcome(name, "ok", written.strokes, seconds, None, 0, written.line)
    return [outcomes[name] for name, _ in chunk]


# ------------------------------------------------------------------ worker processes
_WORKER: dict[str, Any] = {}


def _start_worker(factory: WriterFactory, args: Any, threads: int, parent: int) -> None:
    """A worker's start: it ends with its parent (children.py); the model is loaded once."""
    end_with_parent(parent)
    _WORKER["predictor"] = make_predictor(args)
    _WORKER["predictor"].set_threads(threads)
    _WORKER["write"] = factory(args, threads)
    _WORKER["settings"] = (_max_pixels(args), bool(args.invert))


def _worker_chunk(chunk: Sequence[tuple[str, Path]], suffix: str) -> list[Outcome]:
    max_pixels, invert = _WORKER["settings"]
    return run_chunk(chunk, _WORKER["predictor"], _WORKER["write"], max_pixels, invert, suffix)


def usable_cores() -> int:
    """The CPU cores this process may use (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _max_pixels(args: Any) -> int:
    value = DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
    if value < 1:
        raise UsageError(f"--max-pixels {value}: must be at least 1")
    return value


class _Sink:
    """Prints outcomes (stdout lines, stderr errors) around the progress bar and writes the
    report, in the images' order."""

    def __init__(
        self,
        prog: str,
        report: IO[str] | None,
        path: str | None,
        bar: tqdm,
        ready: list[tuple[int, Outcome]],
    ) -> None:
        self.prog, self.report, self.path, self.bar = prog, report, path, bar
        self.ready = ready[::-1]  # (jobs before it, outcome), the next one last
        self.jobs = 0  # job outcomes emitted so far
        self.worst = 0  # 1 beats 2 beats 0 (module docstring)

    def _put(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            message = f"{self.prog}: error: {printable(outcome.error)}"
            self.bar.write(message, file=sys.stderr)
            self.worst = 1 if 1 in (outcome.code, self.worst) else 2
        elif outcome.line is not None:
            self.bar.write(printable(outcome.line), file=sys.stdout)
        if self.report is not None:
            try:
                self.report.write(outcome.record() + "\n")
                self.report.flush()
            except OSError as exc:  # a full disk ...: said once; the images go on
                self.failed(exc)
        self.bar.update(1)

    def failed(self, exc: OSError) -> None:
        """The report could not be written: one line, no more report, exit status 1."""
        self.bar.write(
            f"{self.prog}: error: --report {printable(str(self.path))}: cannot write "
            f"({exc.strerror or exc}); the report stops there, the images go on",
            file=sys.stderr,
        )
        self.report, self.worst = None, 1

    def close(self) -> None:
        if self.report is not None:
            try:
                self.report.close()
            except OSError as exc:
                self.failed(exc)

    def _ready_until(self, jobs: int) -> None:
        while self.ready and self.ready[-1][0] <= jobs:
            self._put(self.ready.pop()[1])

    def emit(self, outcome: Outcome) -> None:
        """A job's outcome, after the ready outcomes that come before it."""
        self._ready_until(self.jobs)
        self._put(outcome)
        self.jobs += 1

    def finish(self) -> None:
        while self.ready:
            self._put(self.ready.pop()[1])


def _is_report(path: str) -> bool:
    """Whether the file at ``path`` is empty or a report of an earlier run (its first line a
    JSON object with an "image"), so that replacing it loses nothing else."""
    with open(path, "rb") as f:
        first = f.readline(65536).strip()
    if not first:
        return True
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "image" in record


def _is_stream(path: str) -> bool:
    """Whether ``path`` is a device or a FIFO (``/dev/null``, ``/dev/stdout``, ``>(jq .)``)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _open_stream(path: str) -> IO[str] | None:
    """``path`` opened for writing when it is a device or a FIFO (``_is_stream``), without ever
    waiting for a reader; None for anything else."""
    if not _is_stream(path):
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        why = "a FIFO that nobody reads" if exc.errno == errno.ENXIO else exc.strerror or exc
        raise UsageError(f"--report {path}: cannot write ({why})") from None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", encoding="utf-8")


def _check_report(path: str, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Refuse the ``--report`` path in one line, before the model loads, where writing it would
    fail or replace what is not a report: a folder, one of the ``inputs`` (the images, the
    checkpoint), one of the run's ``outputs``, or any other file that is not an earlier report."""
    if not path.endswith((".jsonl", ".json", ".ndjson")) and Path(path).is_dir():
        raise UsageError(f"--report {path}: is a folder (give a file, such as report.jsonl)")
    if _is_stream(path):
        return
    problem = output_problem(path)
    if problem is not None:
        raise UsageError(f"--report {path}: {problem}")
    target = os.path.realpath(path)
    if any(os.path.realpath(name) == target for name in outputs):
        raise UsageError(f"--report {path}: is one of the run's outputs; choose another name")
    try:
        if os.path.isfile(path):
            if any(os.path.realpath(name) == target for name in inputs):
                raise UsageError(f"--report {path}: is one of the inputs; choose another name")
            if not _is_report(path):
                raise UsageError(
                    f"--report {path}: exists and is not a report (JSON lines); remove it or "
                    "choose another name"
                )
    except OSError as exc:
        raise UsageError(f"--report {path}: cannot write ({exc.strerror or exc})") from None


def _open_report(path: str | None) -> IO[str] | None:
    """The ``--report`` file (checked by ``_check_report``), opened for writing."""
    if path is None:
        return None
    stream = _open_stream(path)
    if stream is not None:
        return stream
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--report {path}: cannot write ({exc.strerror or exc})") from None


def run_images(
    prog: str, args: Any, out: Path, suffixes: Sequence[str], factory: WriterFactory
) -> int:
    """Every image the IMAGE arguments name (``args.images``) through the model of the command
    line and the writer ``factory(args, cores)`` makes, the outputs (``suffixes``, first the main
    one) in ``out`` (module docstring); the exit status."""
    max_pixels = _max_pixels(args)
    workers = 1 if args.workers is None else args.workers
    if workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    check_settings(args)
    expanded = expand_inputs(args.images)
    planned = plan_outputs([name for name, error in expanded if error is None], out, suffixes)
    # in the arguments' order: ready outcomes (errors, refusals from the header, skipped images),
    # each emitted before the job whose index it carries, and the jobs to run
    ready: list[tuple[int, Outcome]] = []
    jobs: list[tuple[str, Path]] = []
    rows = iter(planned)
    for name, error in expanded:
        if error is None:
            name, base, error = next(rows)
        if error is None and base is not None:
            error = size_refusal(name, max_pixels)
        if error is not None:
            ready.append((len(jobs), Outcome(name, "error", None, 0.0, error, 2)))
        elif args.skip_existing and all(Path(f"{base}{s}").is_file() for s in suffixes):
            line = f"skipped {name}: its outputs exist"
            ready.append((len(jobs), Outcome(name, "skipped", None, 0.0, None, 0, line)))
        elif base is not None:  # a planned image without an error has its output base
            jobs.append((name, base))
    chunks = plan_chunks(jobs, args.batch_size or DEFAULT_BATCH_SIZE, args.tile or DEFAULT_TILE)
    here = workers == 1 or len(chunks) <= 1
    # started before the model loads, so that the first chunk is measured meanwhile
    measurer = _Measurer(chunks, max_pixels, args.invert) if here and _auto(args) else None
    try:
        inputs = [name for name, _ in expanded] + ([args.checkpoint] if args.checkpoint else [])
        if args.report is not None:
            outputs = [f"{b}{s}" for _, b, _ in planned if b is not None for s in suffixes]
            _check_report(args.report, inputs, outputs)
        status = _run_chunks(prog, args, out, suffixes, factory, chunks, ready, measurer)
    except BaseException:  # a bad model, Ctrl-C ...: no waiting for a measure under way
        if measurer is not None:
            measurer.close(kill=True)
        raise
    if measurer is not None:
        measurer.close()
    return status


def _auto(args: Any) -> bool:
    """Whether the command line leaves the scale to the pipeline (``--scale auto``)."""
    return scale_setting(args.scale) is None


def _run_chunks(
    prog: str,
    args: Any,
    out: Path,
    suffixes: Sequence[str],
    factory: WriterFactory,
    chunks: list[list[tuple[str, Path]]],
    ready: list[tuple[int, Outcome]],
    measurer: _Measurer | None,
) -> int:
    """run_images once the images are planned: the model loaded, the chunks run here or in
    workers, the outcomes emitted; the exit status."""
    max_pixels, workers = _max_pixels(args), 1 if args.workers is None else args.workers
    # the model is loaded (here too with workers: a bad model is one line, at once) only when
    # there is an image to run it on: refusing a batch never waits for PyTorch to import
    predictor = make_predictor(args) if chunks else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output {out}: cannot create ({exc.strerror or exc})") from None
    report = _open_report(args.report)
    quiet = not sys.stderr.isatty()
    total = len(ready) + sum(len(chunk) for chunk in chunks)
    bar = tqdm(total=total, unit="image", disable=quiet, file=sys.stderr)
    sink = _Sink(prog, report, args.report, bar, ready)
    try:
        if predictor is None:  # nothing to run: every outcome is ready
            pass
        elif workers == 1 or len(chunks) <= 1:
            write = factory(args, usable_cores())  # every core: no other worker runs
            for k, chunk in enumerate(chunks):
                scales = measurer.scales(k) if measurer is not None else None
                for outcome in run_chunk(
                    chunk, predictor, write, max_pixels, args.invert, suffixes[0], scales
                ):
                    sink.emit(outcome)
        else:
            del predictor
            _run_pool(chunks, workers, factory, args, suffixes[0], sink)
        sink.finish()
    finally:
        sink.close()
        bar.close()
    return sink.worst


def _run_pool(
    chunks: list, workers: int, factory: WriterFactory, args: Any, suffix: str, sink: _Sink
) -> None:
    """The chunks in ``workers`` spawned processes, their outcomes emitted in order."""
    workers = min(workers, len(chunks))
    threads = max(1, usable_cores() // workers)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(factory, args, threads, os.getpid()),
    )
    futures = {pool.submit(_worker_chunk, chunk, suffix): k for k, chunk in enumerate(chunks)}
    results: dict[int, list[Outcome]] = {}
    following = 0  # the next chunk to emit
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                k = futures[future]
                try:
                    results[k] = future.result()
                except BrokenProcessPool:
                    died = "a worker process died (killed, or out of memory)"
                    results[k] = [
                        Outcome(name, "error", None, 0.0, f"{name}: {died}", 1)
                        for name, _ in chunks[k]
                    ]
            while following in results:
                for outcome in results.pop(following):
                    sink.emit(outcome)
                following += 1
    except BaseException:  # Ctrl-C, an error: the chunks queued and under way stop now
        _kill(pool)
        raise
    pool.shutdown(wait=True)
