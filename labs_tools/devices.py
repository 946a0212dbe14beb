"""GPUs for the runner's workers: a memory policy that lets several kernels share one GPU, and
`--gpus 0,1,...`, which pins each worker to one device (CUDA_VISIBLE_DEVICES).

By default JAX preallocates 75 % of a GPU's memory in every process and TensorFlow takes all of it,
so a second kernel on the same GPU (`--jobs 2`, or the warm start of the next notebook) runs out of
memory. Every worker therefore gets the policy below, unless the environment already sets it.
"""

import threading

MEMORY_POLICY = {
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # JAX: allocate as needed, not 75 % up front
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # TensorFlow: grow as needed, not the whole GPU
}


def parse_gpus(text):
    """(0, 1, ...) from '0,1,...': distinct device indices >= 0; '' or None gives ()."""
    if text is None or not str(text).strip():
        return ()
    items = [item.strip() for item in str(text).split(",")]
    if not all(item.isdigit() for item in items):
        raise ValueError(
            f"--gpus must be device indices >= 0 separated by commas (e.g. 0,1), got {text!r}"
        )
    gpus = tuple(int(item) for item in items)
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus lists a device twice, got {text!r}")
    return gpus


def worker_env(base, gpu=None):
    """`base` with the memory policy (values already in `base` win) and, given a device index,
    CUDA_VISIBLE_DEVICES set to it alone."""
    env = dict(base)
    for name, value in MEMORY_POLICY.items():
        env.setdefault(name, value)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


class GpuPool:
    """Hands each new worker the listed GPU with the fewest live workers (the first listed on a
    tie): round-robin while workers start, refilling the GPU a finished worker left."""

    def __init__(self, gpus=()):
        self.gpus = tuple(gpus)
        self.load = dict.fromkeys(self.gpus, 0)
        self.lock = threading.Lock()

    def take(self):
        """A device index for a worker starting now, or None without --gpus."""
        if not self.gpus:
            return None
        with self.lock:
            gpu = min(self.gpus, key=lambda g: (self.load[g], self.gpus.index(g)))
            self.load[gpu] += 1
            return gpu

    def give_back(self, gpu):
        """The worker that had `gpu` has ended."""
        if gpu is not None:
            with self.lock:
                self.load[gpu] -= 1
