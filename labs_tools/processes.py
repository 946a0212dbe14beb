"""Processes the tools start and stop: killing a process tree, dying with a parent, turning the
signals that stop a run into one exception, and telling whether a recorded process still runs."""

import contextlib
import os
import signal
import threading

import psutil

# the signals that stop a run or a server: Ctrl-C, a process manager, a closed terminal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised in the main thread; `signum` says which."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stop(threading.Event):
    """Set when a run is to stop; `signum` is the signal that stopped it (SIGINT by default)."""

    signum = signal.SIGINT

    def set_by(self, signum):
        self.signum = signum
        self.set()


def signum_of(exc):
    """The signal an Interrupted (or a plain KeyboardInterrupt: Ctrl-C) stands for."""
    return getattr(exc, "signum", signal.SIGINT)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def interrupted_by_signals(signals=STOP_SIGNALS):
    """Within: each of `signals` raises Interrupted in the main thread (SIGINT's KeyboardInterrupt
    included), so a run stops the same way whatever stopped it; the previous handlers after."""
    previous = {s: signal.signal(s, _raise_interrupted) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def kill_tree(proc):
    """Kill a process and every process below it (a worker and its kernel, which runs in a
    session of its own), then reap it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:  # already gone
        children = []
    for p in [proc, *children]:
        try:
            p.kill()
        except (psutil.Error, OSError):  # already exited
            pass
    proc.wait()


def die_with_parent(signum=signal.SIGKILL):
    """In a child, before exec: get `signum` when the thread that started it exits (Linux prctl
    PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signum)
    except OSError:  # not Linux
        pass


def exit_cause(returncode):
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        number = -returncode
        if number == signal.SIGKILL:
            return f"killed by signal {number}: out of memory?"
        return f"killed by signal {number}, {signal.Signals(number).name}"
    return f"exit code {returncode}"


def kernel_death(kernel):
    """'the kernel died (...)' with its exit code or signal, or '' while the kernel process (a
    Popen) runs or is not known."""
    code = kernel.poll() if kernel is not None else None
    return "" if code is None else f"the kernel died ({exit_cause(code)})"


def identity(pid=None):
    """{'pid', 'started'} of a process (this one by default): its id and start time, which
    together name it even after the id is reused."""
    proc = psutil.Process(pid or os.getpid())
    return {"pid": proc.pid, "started": proc.create_time()}


def is_running(record):
    """True when the process `identity` recorded is still running."""
    try:
        proc = psutil.Process(int(record["pid"]))
        same = abs(proc.create_time() - float(record["started"])) < 1e-3
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False
