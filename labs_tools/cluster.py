"""`labs run --executor dask --scheduler ADDRESS`: the run's jobs on a Dask distributed cluster.

Each (notebook, parameters) job is one Dask task. On a worker, it runs the notebook as the local
runner does (`python -m labs_tools.worker`, a kernel of its own, the timeout) in a temporary folder,
and returns the executed notebook and every output file. Here, the files go into a staging folder
and are published exactly as a local run publishes them (run.json, atomic swap, `.failed/`). A
worker that dies mid-job has its job rescheduled on another worker by Dask (up to its
distributed.scheduler.allowed-failures), else the job is reported failed; nothing of it is written,
and the dead worker's notebook process is killed with it (PR_SET_PDEATHSIG), its kernel following.
The workers need this project installed (the same environment and data directory): see the README,
"On a cluster".
"""

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from labs_tools import processes, runner

OUTPUT_LIMIT = 2_000  # characters of a failed job's log kept in its run.log


def connect(address, timeout=15):
    """A distributed.Client for the scheduler at `address`; UsageError when it cannot be reached."""
    try:
        import distributed
    except ImportError:
        raise runner.UsageError(
            "--executor dask needs dask.distributed: pip install -e '.[dask]'"
        ) from None
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise runner.UsageError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def run_on_worker(name, notebook, params, takes_out_dir, backend, timeout, cwd):
    """A Dask task: run one notebook (its text) with `params` in a temporary folder; returns its
    status, seconds, the temporary output folder's path and {relative path: bytes} of its files."""
    with tempfile.TemporaryDirectory(prefix="labs-") as tmp:
        tmp = Path(tmp)
        source, outputs = tmp / f"src-{name}.ipynb", tmp / "out"
        outputs.mkdir()
        source.write_text(notebook)
        params = {**params, **({"out_dir": str(outputs)} if takes_out_dir else {})}
        cwd = cwd if Path(cwd).is_dir() else tmp  # the notebook's folder, where the worker has it
        cmd = runner.worker_command(source, outputs / f"{name}.ipynb", params, cwd, warm=False)
        started = time.time()
        with open(tmp / "run.log", "wb") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=runner.kernel_env(backend),
                start_new_session=True,
                preexec_fn=processes.die_with_parent,
            )
            status = wait(proc, timeout)
        files = {p.relative_to(outputs).as_posix(): p.read_bytes() for p in files_in(outputs)}
        files["run.log"] = (tmp / "run.log").read_bytes()[-OUTPUT_LIMIT:]
        seconds = time.time() - started
        return {"status": status, "seconds": seconds, "tmp": str(outputs), "files": files}


def files_in(folder):
    return [p for p in Path(folder).rglob("*") if p.is_file()]


def wait(proc, timeout):
    """Say "go" to a labs worker and wait for it: ok, failed, or timeout (then stopped). Its stdin
    stays open meanwhile: its end would tell the worker that this task is gone."""
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    try:
        proc.wait(timeout=timeout or None)
    except subprocess.TimeoutExpired:
        processes.kill_tree(proc)
        return "timeout"
    finally:
        proc.stdin.close()
    return "ok" if proc.returncode == 0 else "failed"


def run(jobs, opts, client, stream=None):
    """Submit every job to the cluster, publish each as it finishes; Results in job order."""
    import distributed

    progress = runner.Progress(len(jobs), stream or sys.stdout)
    runner.remove_leftovers(opts.out, progress)
    results, todo = runner.skip_or_queue(jobs, opts, progress)  # --resume, unmet requirements
    futures = {
        client.submit(
            run_on_worker,
            job.name,
            job.path.read_text(),
            job.params,
            job.takes_out_dir,
            opts.backend,
            opts.timeout,
            str(job.path.parent.resolve()),
            key=f"labs-{job.name}-{uuid.uuid4().hex[:8]}",
            pure=False,
            retries=opts.retries,
        ): job
        for job in todo
    }
    try:
        with processes.interrupted_by_signals():
            for future in distributed.as_completed(futures):
                job = futures[future]
                results[job.name] = collect(job, opts, future)
                progress.finish(results[job.name])
    except KeyboardInterrupt as exc:
        client.cancel(list(futures))
        signum = processes.signum_of(exc)
        for job in jobs:
            results.setdefault(job.name, runner.interrupted(job.name, signum))
    return [results[job.name] for job in jobs]


def collect(job, opts, future):
    """Publish a finished task's files (or its failure) into opts.out as a local run would."""
    staging = runner.make_staging(opts.out, job.name)
    try:
        done = future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died, a task that raised
        (staging / "run.log").write_text(f"{type(exc).__name__}: {exc}\n")
        return runner.publish(job, opts, staging, staging / f"{job.name}.ipynb", "failed", 0.0)
    for name, data in done["files"].items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    executed = staging / f"{job.name}.ipynb"
    if executed.exists():  # the notebook names the worker's folder: name the staging one instead
        there, here = (json.dumps(str(p))[1:-1] for p in (done["tmp"], staging))
        executed.write_text(executed.read_text().replace(there, here))
    return runner.publish(job, opts, staging, executed, done["status"], done["seconds"])


# ---------------------------------------------------------------- labs grade --executor dask


def grade_on_worker(name, text, parameters, timeout, backend):
    """A Dask task: run one submission (its text) as `labs grade` does here; returns (the executed
    notebook as JSON text or None, the problem or '')."""
    import nbformat

    from labs_tools import grading

    with tempfile.TemporaryDirectory(prefix="labs-grade-") as tmp:
        path = Path(tmp) / f"{name}.ipynb"
        path.write_text(text)
        sub = grading.Submission(path, "", name)
        executed, problem = grading.run_submission(
            sub, parameters, timeout, backend, preexec_fn=processes.die_with_parent
        )
        return (nbformat.writes(executed) if executed is not None else None), problem


def grade(client, subs, parameters, timeout, backend):
    """[(executed notebook or None, problem)] per submission, each run on the cluster; a task
    that failed (its worker kept dying) is a problem, not an exception."""
    import nbformat

    futures = [
        client.submit(
            grade_on_worker,
            sub.notebook,
            sub.path.read_text(),
            parameters(sub),
            timeout,
            backend,
            key=f"labs-grade-{sub.student}-{sub.notebook}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        for sub in subs
    ]
    runs = []
    for future in futures:
        try:
            text, problem = future.result()
            runs.append((nbformat.reads(text, as_version=4) if text else None, problem))
        except Exception as exc:  # noqa: BLE001 - a worker that died, a task that raised
            runs.append((None, f"the Dask task failed: {type(exc).__name__}: {exc}"))
    return runs
