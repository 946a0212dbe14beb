"""The runner: validate a run's notebooks and parameters, execute them with papermill, publish
outputs.

Each notebook runs in its own process and kernel of this environment (`python -m labs_tools.worker`,
which executes it with papermill), writing into a staging folder next to the outputs; only a
finished run is renamed into place, so an interrupted or failed run never replaces the previous
outputs. Each worker is started while the notebook before it runs (a warm start), so its kernel
start and imports cost no wall time.
"""

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from labs_lib import PACKAGE_DIR, PROJECT_ROOT, __version__
from labs_lib.shared.files import atomic_write, to_json
from labs_lib.shared.params import check_all, coerce, read_params
from labs_tools import devices, processes

PROFILES = ("smoke", "quick", "full")
BACKENDS = ("tensorflow", "jax")
DEFAULT_TIMEOUT = {"smoke": 600, "quick": 1800, "full": 6 * 3600}  # seconds per notebook
OWNER_FILE = ".runner"  # in a staging folder: the runner that made it (processes.identity)
STALE_AFTER = 60  # seconds after which a staging folder without an owner is a dead run's
RUNNER_PARAMS = ("profile", "out_dir")  # set by the runner, not by -p
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


class UsageError(ValueError):
    """A bad command line: unknown notebook, parameter, profile or backend (exit status 2)."""


@dataclass
class Job:
    """One notebook to execute, with its validated parameters."""

    name: str
    path: Path
    params: dict
    takes_out_dir: bool = True  # the notebook has an out_dir parameter for the runner to set
    # backends the notebook needs (notebook metadata labs.requires), e.g. ("tensorflow",)
    requires: tuple = ()


@dataclass
class Result:
    name: str
    status: str  # ok | failed | timeout | skipped | interrupted
    seconds: float = 0.0
    figures: int = 0
    where: str = ""
    message: str = ""
    cells: tuple = (0, 0)
    signum: int = 0  # interrupted: the signal that stopped the run


@dataclass
class RunOptions:
    profile: str = "quick"
    backend: str = "tensorflow"
    out: Path = field(default_factory=lambda: PROJECT_ROOT / "reports")
    jobs: int = 1
    timeout: float = 0.0
    resume: bool = False
    # start each notebook's kernel and imports while the notebook before it runs
    warm_start: bool = True
    gpus: tuple = ()  # device indices the workers are pinned to, round-robin (--gpus)
    # --executor dask: times a job whose task raised is run again (a job whose worker died is
    # rescheduled by Dask itself, up to its distributed.scheduler.allowed-failures, then fails)
    retries: int = 1


# ---------------------------------------------------------------- planning (no side effects)


def discover(notebooks_dir=NOTEBOOKS_DIR):
    """The pack's notebooks as {name: path}, in file-name order."""
    return {p.stem: p for p in sorted(Path(notebooks_dir).glob("*.ipynb"))}


def resolve_names(requested, available):
    """Map names or unique prefixes ('02') to notebook names; all notebooks when none is given."""
    if not available:
        raise UsageError("no notebooks found: the notebooks folder has no .ipynb files")
    if not requested:
        return list(available)
    names = []
    for req in requested:
        req_name = Path(req).stem if req.endswith(".ipynb") else req
        matches = [n for n in available if n == req_name] or [
            n for n in available if n.startswith(req_name)
        ]
        if len(matches) != 1:
            why = "is ambiguous" if matches else "is not a notebook of the pack"
            raise UsageError(f"notebook {req!r} {why}; available: {', '.join(available)}")
        names.append(matches[0])
    return list(dict.fromkeys(names))


def requirements(path):
    """What a notebook needs beyond the pack's environment: its metadata's `labs.requires` list.

    The only requirement so far is a backend name ("tensorflow"): the run must use that backend and
    its module must be installed. Notebooks without the entry run under every backend.
    """
    meta = json.loads(Path(path).read_text()).get("metadata", {}).get("labs", {})
    requires = meta.get("requires", [])
    unknown = [r for r in requires if r not in BACKENDS]
    if unknown:
        raise UsageError(
            f"{Path(path).name}: metadata labs.requires may name {{{', '.join(BACKENDS)}}}, "
            f"got {unknown[0]!r}"
        )
    return tuple(requires)


def unmet(job, backend):
    """Why `job` cannot run under `backend` ('' when it can): a reason for skipping it, not a
    failure."""
    for need in job.requires:
        if backend != need:
            return f"needs the {need} backend (it uses {need} directly); this run uses {backend}"
        if importlib.util.find_spec(need) is None:
            return f"needs {need}, which is not installed in this environment"
    return ""


def load_profile(profile, notebooks_dir=NOTEBOOKS_DIR):
    """The parameter values of a profile, {notebook: {name: value}}, from
    profiles/<profile>.yaml."""
    if profile not in PROFILES:
        raise UsageError(f"profile must be one of {{{', '.join(PROFILES)}}}, got {profile!r}")
    path = Path(notebooks_dir) / "profiles" / f"{profile}.yaml"
    try:
        values = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path} must map notebook names to parameter values")
    for name, v in values.items():
        if v is not None and not isinstance(v, dict):
            raise UsageError(f"{path}: {name} must map parameter names to values, got {v!r}")
    return {name: dict(v or {}) for name, v in values.items()}


def parse_overrides(pairs):
    """['epochs=3', ...] -> [('epochs', '3'), ...]."""
    parsed = []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p expects NAME=VALUE, got {pair!r}")
        parsed.append((name.strip(), text))
    return parsed


def plan(requested, profile, overrides=(), notebooks_dir=NOTEBOOKS_DIR):
    """Validate notebooks, profile values and -p overrides; return the Jobs. Writes nothing."""
    available = discover(notebooks_dir)
    names = resolve_names(requested, available)
    profile_values = load_profile(profile, notebooks_dir)
    unknown = sorted(set(profile_values) - set(available))
    if unknown:
        raise UsageError(f"profile {profile!r} names unknown notebook {unknown[0]!r}")
    pairs = parse_overrides(overrides)
    specs = {name: read_params(available[name]) for name in names}
    for name, _ in pairs:
        if name in RUNNER_PARAMS:
            raise UsageError(
                f"{name} is set by the runner: use --{name.replace('_dir', '')} instead of -p"
            )
        if not any(name in spec for spec in specs.values()):
            allowed = sorted({p for spec in specs.values() for p in spec} - set(RUNNER_PARAMS))
            raise UsageError(
                f"unknown parameter {name!r} for {', '.join(names)}; allowed: {', '.join(allowed)}"
            )
    jobs = []
    for name in names:
        spec = specs[name]
        values = check_all(
            spec, profile_values.get(name, {}), origin=f"profile {profile!r}, notebook {name}"
        )
        values.update({k: coerce(spec[k], text) for k, text in pairs if k in spec})
        if "profile" in spec:
            values["profile"] = profile
        jobs.append(
            Job(name, available[name], values, "out_dir" in spec, requirements(available[name]))
        )
    return jobs


def parse_grid(pairs, jobs):
    """['lr=0.1,0.01', ...] (--grid) -> [('lr', ['0.1', '0.01']), ...], each name a scalar
    parameter of at least one job and each value allowed; UsageError otherwise."""
    grid, params = [], [read_params(job.path) for job in jobs]
    for name, text in parse_overrides(pairs):
        specs = [spec[name] for spec in params if name in spec]
        if name in RUNNER_PARAMS or not specs:
            allowed = sorted({p for spec in params for p in spec} - set(RUNNER_PARAMS))
            raise UsageError(f"--grid: unknown parameter {name!r}; allowed: {', '.join(allowed)}")
        if specs[0].type.startswith("list"):
            raise UsageError(f"--grid takes scalar parameters; {name} is a list (use -p)")
        texts = [t.strip() for t in text.split(",")]
        for spec in specs:
            for t in texts:
                try:
                    coerce(spec, t)
                except ValueError as exc:
                    raise UsageError(f"--grid {name}: {exc}") from None
        grid.append((name, texts))
    return grid


def expand_grid(jobs, grid):
    """Each job once per combination of the grid's values for its parameters; the job's name, and
    so its output folder, gets them: 02_initialization--learning_rate=0.01."""
    expanded = []
    for job in jobs:
        spec = read_params(job.path)
        axes = [(name, texts) for name, texts in grid if name in spec]
        for combo in itertools.product(*[texts for _, texts in axes]):
            values, label = dict(job.params), [job.name]
            for (name, _), text in zip(axes, combo):
                values[name] = coerce(spec[name], text)
                label.append(f"{name}={text}")
            expanded.append(dataclasses.replace(job, name="--".join(label), params=values))
    return expanded


def check_backend(backend):
    """Refuse a backend that is unknown or not installed, before any kernel starts."""
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {{{', '.join(BACKENDS)}}}, got {backend!r}")
    module = "tensorflow" if backend == "tensorflow" else "jax"
    if importlib.util.find_spec(module) is None:
        extra = " (pip install -e '.[jax]')" if backend == "jax" else ""
        raise UsageError(f"backend {backend!r} needs {module}, which is not installed{extra}")


# ---------------------------------------------------------------- fingerprints (for --resume)


def library_hash():
    """A hash of the student package's source (labs_lib, shared/ included), which a notebook's
    results depend on; the tooling (this package: runner, PDF, gallery) is left out, so editing it
    re-runs nothing."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def data_hash():
    """A hash of the data directory's listing (each file's path, size and modification time): a
    dataset file added, replaced or removed changes it. Contents are checked against their SHA-256
    when a notebook loads them."""
    from labs_lib.data import data_dir

    folder = data_dir()
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        stat = path.stat()
        digest.update(
            f"{path.relative_to(folder).as_posix()} {stat.st_size} {stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()


def fingerprint(job, backend):
    """What a run's results depend on: the notebook file, its parameters, labs_lib, the data files,
    the backend."""
    inputs = {
        "notebook": hashlib.sha256(job.path.read_bytes()).hexdigest(),
        "parameters": job.params,
        "labs_lib": library_hash(),
        "data": data_hash(),
        "backend": backend,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def last_run(job, opts):
    """The run.json of `job`'s last published run in opts.out, or None."""
    try:
        return json.loads((Path(opts.out) / job.name / "run.json").read_text())
    except (OSError, ValueError):
        return None


def up_to_date(job, opts):
    """True when out/<name>/ holds a complete run made from the same inputs."""
    folder, record = Path(opts.out) / job.name, last_run(job, opts) or {}
    return (
        record.get("status") == "ok"
        and record.get("fingerprint") == fingerprint(job, opts.backend)
        and all((folder / f).exists() for f in record.get("outputs", []))
    )


# ---------------------------------------------------------------- execution


class Progress:
    """One status line per notebook as it goes (cell n of m, elapsed) and the overall count."""

    def __init__(self, total, stream):
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.lock = threading.Lock()
        self.last = {}

    def update(self, name, cells, elapsed):
        n, m = cells
        if not m:
            return
        with self.lock:
            line = f"[{self.done}/{self.total} done] {name}: cell {n}/{m}, {elapsed:.0f} s"
            if self.tty:
                self.write("\r\033[K" + line)
            elif time.time() - self.last.get(name, 0) >= 15:
                self.write(line + "\n")
            else:
                return
            self.last[name] = time.time()

    def finish(self, result):
        with self.lock:
            self.done += 1
            prefix = "\r\033[K" if self.tty else ""
            self.write(
                f"{prefix}[{self.done}/{self.total} done] {result.name}: {result.status}"
                f" in {result.seconds:.1f} s{' - ' + result.message if result.message else ''}\n"
            )

    def write(self, text):
        write_quietly(self.stream, text)


def write_quietly(stream, text):
    """Write and flush; a stream that is gone (a closed terminal, SIGHUP) is ignored: the run goes
    on without it."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def cell_progress(nb_path):
    """(cells started, code cells) from the notebook papermill is writing; (0, 0) if unreadable."""
    try:
        cells = [
            c for c in json.loads(Path(nb_path).read_text())["cells"] if c["cell_type"] == "code"
        ]
    except (OSError, ValueError, KeyError):
        return (0, 0)
    started = sum(
        c.get("metadata", {}).get("papermill", {}).get("status") in ("running", "completed")
        for c in cells
    )
    return (started, len(cells))


def first_error(nb_path):
    """'ename: evalue' of the first error output in an executed notebook, or ''."""
    try:
        cells = json.loads(Path(nb_path).read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return ""
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}"
    return ""


def kernel_env(backend, gpu=None):
    """Environment for a notebook's worker process and its kernel: the backend, and a GPU memory
    policy that lets several kernels share a GPU (labs_tools.devices), pinned to `gpu` if given."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # Agg would drop inline figures from the executed notebook
    return devices.worker_env(env, gpu)


def worker_command(source, executed, params, cwd, warm=True):
    """The `python -m labs_tools.worker` command line that runs `source` into `executed`."""
    paths = [str(Path(p).resolve()) for p in (source, executed)]
    cold = [] if warm else ["--cold"]
    command = [sys.executable, "-m", "labs_tools.worker", *cold, *paths, json.dumps(params)]
    return command + [str(Path(cwd).resolve())]


class Worker:
    """A notebook's `python -m labs_tools.worker` process, writing into a staging folder next to
    the outputs.

    It starts its kernel and imports at once and executes the notebook when `go` is called, so a
    worker made ahead of its turn has paid both by then (a warm start). `cancel` stops it and
    removes its staging folder.
    """

    def __init__(self, job, opts, warm=True, pool=None):
        self.started, self.pool = None, pool or devices.GpuPool()
        self.gpu = self.pool.take()  # None without --gpus
        self.staging = make_staging(opts.out, job.name)
        self.executed = self.staging / f"{job.name}.ipynb"
        params = dict(job.params)
        if job.takes_out_dir:
            params["out_dir"] = str(self.staging.resolve())
        cmd = worker_command(job.path, self.executed, params, job.path.parent, warm)
        with open(self.staging / "run.log", "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=kernel_env(opts.backend, self.gpu),
                start_new_session=True,
            )

    def go(self):
        """Let the notebook run; its seconds count from now. stdin stays open: its end tells the
        worker that this runner is gone."""
        self.started = time.time()
        try:
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.flush()
        except OSError:  # the worker died while warming up: poll() reports it
            pass

    def stop(self):
        """Kill the worker and its kernel (if still running) and close its stdin."""
        processes.kill_tree(self.proc)
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def cancel(self):
        self.stop()
        shutil.rmtree(self.staging, ignore_errors=True)
        self.release()

    def release(self):
        """Free this worker's GPU for the next one (once)."""
        self.pool.give_back(self.gpu)
        self.gpu, self.pool = None, devices.GpuPool()


class WarmStarts:
    """Workers for the jobs in `todo`, each started while the ones before it run: as many ahead as
    run at once (none with opts.warm_start off: then each worker starts at its turn, and imports
    nothing ahead)."""

    def __init__(self, todo, opts):
        self.todo, self.opts = list(todo), opts
        self.ahead = max(1, opts.jobs) if opts.warm_start else 0
        self.waiting, self.next, self.lock, self.closed = {}, 0, threading.Lock(), False
        self.pool = devices.GpuPool(opts.gpus)

    def take(self, job):
        """The worker of `job` (started now if it was not yet) after starting the next `ahead` jobs'
        workers."""
        with self.lock:
            worker = self.waiting.pop(job.name, None) or Worker(
                job, self.opts, warm=self.opts.warm_start, pool=self.pool
            )
            self.next = max(self.next, self.todo.index(job) + 1)
            while not self.closed and self.next < len(self.todo) and len(self.waiting) < self.ahead:
                upcoming = self.todo[self.next]  # each job is reached once: `next` only grows
                self.waiting[upcoming.name] = Worker(upcoming, self.opts, pool=self.pool)
                self.next += 1
            return worker

    def close(self):
        """Stop the workers never taken (the run was interrupted)."""
        with self.lock:
            self.closed = True
            for worker in self.waiting.values():
                worker.cancel()
            self.waiting.clear()


def execute(job, worker, opts, progress, stop):
    """Run one notebook in its `worker` (see WarmStarts.take) and publish it; returns a Result."""
    worker.go()
    proc, executed, started = worker.proc, worker.executed, worker.started
    status, seen, cells = None, None, (0, 0)
    try:
        while proc.poll() is None:
            elapsed = time.time() - started
            if stop.is_set():
                status = "interrupted"
            elif opts.timeout and elapsed > opts.timeout:
                status = "timeout"
            if status:
                break
            mtime = executed.stat().st_mtime if executed.exists() else None
            if mtime != seen:  # papermill rewrites the notebook at each cell; parse it only then
                seen, cells = mtime, cell_progress(executed)
            progress.update(job.name, cells, elapsed)
            stop.wait(0.5)
    finally:
        worker.stop()  # whatever ended the wait: no worker or kernel outlives it
    seconds, gpu = time.time() - started, worker.gpu
    worker.release()
    if status == "interrupted":
        shutil.rmtree(worker.staging, ignore_errors=True)
        return interrupted(job.name, stop.signum, seconds)
    return publish(
        job,
        opts,
        worker.staging,
        executed,
        status or ("ok" if proc.returncode == 0 else "failed"),
        seconds,
        gpu,
    )


def interrupted(name, signum, seconds=0.0):
    """The Result of a notebook stopped by signal `signum` before it was published."""
    message = f"stopped by {signal.Signals(signum).name}; previous outputs kept"
    return Result(name, "interrupted", seconds, message=message, signum=signum)


def publish(job, opts, staging, executed, status, seconds, gpu=None):
    """Write run.json and rename staging into out/<name> (ok) or out/<name>.failed (not ok).

    gpu: the device the worker was pinned to (--gpus); run.json also copies metrics.json's device.
    """
    metrics = staging / "metrics.json"
    status, message = status_and_message(status, opts, staging, executed)
    figures = (
        sorted(p.relative_to(staging).as_posix() for p in (staging / "figures").glob("*.*"))
        if (staging / "figures").is_dir()
        else []
    )
    outputs = [executed.name] + (["metrics.json"] if metrics.exists() else []) + figures
    record = {
        "notebook": job.name,
        "status": status,
        "message": message,
        "profile": opts.profile,
        "backend": opts.backend,
        "parameters": job.params,
        "fingerprint": fingerprint(job, opts.backend),
        "seconds": round(seconds, 2),
        "cells": cell_progress(executed),
        "outputs": outputs,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **where_it_ran(metrics, gpu),
    }
    final = Path(opts.out) / (job.name if status == "ok" else f"{job.name}.failed")
    (staging / OWNER_FILE).unlink(missing_ok=True)
    if executed.exists():
        relocate(executed, staging, final, job.path)
    atomic_write(staging / "run.json", to_json(record))
    swap_into_place(staging, final)
    if status == "ok":
        shutil.rmtree(Path(opts.out) / f"{job.name}.failed", ignore_errors=True)
    n_figs = sum(f.endswith(".png") for f in figures)
    return Result(job.name, status, seconds, n_figs, str(final), message, tuple(record["cells"]))


def status_and_message(status, opts, staging, executed):
    """The run's final status (ok without metrics.json is a failure) and what went wrong."""
    if status == "ok" and not (staging / "metrics.json").exists():
        return "failed", "the notebook finished without writing metrics.json"
    if status == "timeout":
        return status, f"stopped after the {opts.timeout:.0f} s timeout"
    if status == "failed":
        tail = (staging / "run.log").read_text(errors="replace").strip().splitlines()[-1:]
        return status, first_error(executed) or (tail[0] if tail else "papermill failed")
    return status, ""


def where_it_ran(metrics_path, gpu):
    """run.json's gpu (the --gpus device, or None) and device (as the notebook recorded it in its
    metrics.json; {} when there is none to read)."""
    try:
        device = json.loads(Path(metrics_path).read_text()).get("device", {})
    except (OSError, ValueError):
        device = {}
    return {"gpu": gpu, "device": device}


def relocate(executed, staging, final, source):
    """Rewrite the executed notebook's paths (papermill's injected out_dir and its metadata) from
    the absolute staging folder to `final`, so that it names no machine path and no folder that is
    gone once published: relative to the notebook's folder (the kernel's working directory) when
    `final` is inside the project (e.g. ../reports/02_initialization), else as metrics.json names
    it (<reports folder name>/<notebook>)."""
    here, final = source.resolve().parent, final.resolve()
    if final.is_relative_to(PROJECT_ROOT.resolve()):
        final_rel = os.path.relpath(final, here)
    else:
        final_rel = f"{final.parent.name}/{final.name}"
    text = executed.read_text()
    for old in {str(staging.resolve()), str(staging)}:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(final_rel)[1:-1])
    nb = json.loads(text)
    meta = nb.get("metadata", {}).get("papermill")
    if meta is not None:
        meta["input_path"] = source.name
        meta["output_path"] = os.path.join(final_rel, executed.name)
    atomic_write(executed, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def swap_into_place(src, dest):
    """Replace folder `dest` by `src` with renames, signals held off so neither is lost half-way."""
    old = dest.with_name(f".old-{dest.name}-{uuid.uuid4().hex[:8]}")
    blocked = set(processes.STOP_SIGNALS)
    held = threading.current_thread() is threading.main_thread()
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        if dest.exists():
            dest.rename(old)
        src.rename(dest)
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    shutil.rmtree(old, ignore_errors=True)


def run(jobs, opts, stream=None):
    """Execute jobs (skipping up-to-date ones with --resume); returns Results in job order."""
    Path(opts.out).mkdir(parents=True, exist_ok=True)
    progress, stop = Progress(len(jobs), stream or sys.stdout), processes.Stop()
    remove_leftovers(opts.out, progress)
    results, todo = skip_or_queue(jobs, opts, progress)
    todo = longest_first(todo, opts)
    warm = WarmStarts(todo, opts)

    def one(job):
        worker = None
        try:
            worker = warm.take(job)
            result = execute(job, worker, opts, progress, stop)
        except Exception as exc:  # noqa: BLE001 - one notebook's failure must not stop the others
            result = Result(job.name, "failed", message=f"runner error: {exc}")
        finally:
            if worker is not None:
                worker.release()
        progress.finish(result)
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, opts.jobs))
    try:
        with processes.interrupted_by_signals():
            run_in_pool(pool, one, todo, stop, results)
    finally:
        pool.shutdown(wait=True)
        warm.close()
    return [results[job.name] for job in jobs]


def skip_or_queue(jobs, opts, progress):
    """({name: Result} of the jobs skipped, each reported to `progress`, [jobs to run]): a job is
    skipped when its requirements are unmet, or with --resume when its outputs are up to date."""
    results = {}
    todo = []
    for job in jobs:
        reason = unmet(job, opts.backend)
        if reason:
            results[job.name] = Result(job.name, "skipped", message=reason)
            progress.finish(results[job.name])
        elif opts.resume and up_to_date(job, opts):
            results[job.name] = Result(
                job.name,
                "skipped",
                where=str(Path(opts.out) / job.name),
                message="outputs up to date",
            )
            progress.finish(results[job.name])
        else:
            todo.append(job)
    return results, todo


def previous_seconds(job, opts):
    """How long `job` took in the last complete run in opts.out with the same profile and backend
    (from its run.json), or None."""
    record = last_run(job, opts) or {}
    same = record.get("profile") == opts.profile and record.get("backend") == opts.backend
    ok = record.get("status") == "ok" and isinstance(record.get("seconds"), (int, float))
    return float(record["seconds"]) if same and ok else None


def longest_first(todo, opts):
    """With --jobs over 1: the jobs in decreasing order of their last run's seconds, so that a long
    notebook does not start last and run alone; jobs never timed go first, in their own order."""
    if opts.jobs <= 1:
        return list(todo)

    def longest(job):  # sorted calls it once per job
        seconds = previous_seconds(job, opts)
        return -float("inf") if seconds is None else -seconds

    return sorted(todo, key=longest)


def run_in_pool(pool, one, todo, stop, results):
    """Run `one(job)` for each job of `todo` in `pool`, storing each Result in `results` by name. On
    a stop signal (Ctrl-C, SIGTERM, SIGHUP: processes.Interrupted) set `stop`, wait for the running
    notebooks to stop, and record the jobs never started as interrupted."""
    futures = {}
    try:
        futures = {job.name: pool.submit(one, job) for job in todo}
        for name, future in futures.items():
            while not future.done():
                time.sleep(0.1)
            results[name] = future.result()
    except KeyboardInterrupt as exc:
        stop.set_by(processes.signum_of(exc))
        pool.shutdown(wait=True, cancel_futures=True)
        for name, future in futures.items():
            results[name] = (
                future.result()
                if future.done() and not future.cancelled()
                else Result(name, "interrupted", message="not started", signum=stop.signum)
            )


def summary(results):
    """A plain-text table closing the run: notebook, status, seconds, figures, where."""
    rows = [("notebook", "status", "seconds", "figures", "outputs")]
    rows += [
        (r.name, r.status, f"{r.seconds:.1f}", str(r.figures), r.where or r.message)
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    for r in results:
        if r.status in ("failed", "timeout") and r.message:
            lines.append(f"{r.name}: {r.message}")
    return "\n".join(lines)


def exit_status(results):
    """128 + the number of the signal that stopped the run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP),
    1 when a notebook failed or timed out, else 0."""
    stopped = [r.signum or signal.SIGINT for r in results if r.status == "interrupted"]
    if stopped:
        return 128 + stopped[0]
    return 1 if any(r.status in ("failed", "timeout") for r in results) else 0


# ---------------------------------------------------------------- staging folders


def make_staging(out, name):
    """A new staging folder for notebook `name` in `out`, owned by this process (OWNER_FILE)."""
    staging = Path(out) / f".staging-{name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    atomic_write(staging / OWNER_FILE, json.dumps(processes.identity()))
    return staging


def is_leftover(staging):
    """True for a staging folder whose runner is gone (killed outright): its owner no longer runs,
    or it has no owner and is older than STALE_AFTER seconds (a runner writes one at once)."""
    try:
        owner = json.loads((staging / OWNER_FILE).read_text())
    except (OSError, ValueError):
        try:
            return time.time() - staging.stat().st_mtime > STALE_AFTER
        except OSError:
            return False
    return not processes.is_running(owner)


def remove_leftovers(out, progress):
    """Remove the staging folders of runs that were killed, and put back an output folder that a
    kill left renamed aside (.old-<name>-<hash>) half-way through publishing."""
    out = Path(out)
    for staging in sorted(out.glob(".staging-*")):
        if staging.is_dir() and is_leftover(staging):
            shutil.rmtree(staging, ignore_errors=True)
            progress.write(f"removed {staging.name}, left by a run that was killed\n")
    for old in sorted(out.glob(".old-*")):
        try:
            aged = time.time() - old.stat().st_ctime > STALE_AFTER
        except OSError:
            continue
        dest = out / old.name[len(".old-") :].rsplit("-", 1)[0]
        if aged and not dest.exists():
            old.rename(dest)
        elif aged:
            shutil.rmtree(old, ignore_errors=True)
