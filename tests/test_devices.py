"""GPUs for the runner's workers: the memory policy every worker gets, `--gpus` pinning, and what
metrics.json and run.json record about the device. No GPU is needed: the tests read the
environment each worker and kernel received."""

import importlib.util
import json
import os
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest

from labs_lib import reporting, training
from labs_tools import devices, pdf

LABS = [sys.executable, "-m", "labs_tools.cli"]
HAVE_JAX = importlib.util.find_spec("jax") is not None


def test_parse_gpus_reads_distinct_indices_and_refuses_the_rest():
    assert devices.parse_gpus("0,1, 3") == (0, 1, 3)
    assert devices.parse_gpus("") == () and devices.parse_gpus(None) == ()
    for bad in ("a", "0,-1", "1.5", "0,,1"):
        with pytest.raises(ValueError, match=f"device indices >= 0 .* got {bad!r}"):
            devices.parse_gpus(bad)
    with pytest.raises(ValueError, match="lists a device twice, got '0,0'"):
        devices.parse_gpus("0,0")


def test_worker_env_sets_the_memory_policy_unless_the_user_did_and_pins_one_gpu():
    env = devices.worker_env({"PATH": "/bin"}, gpu=1)
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["PATH"] == "/bin"
    mine = devices.worker_env({"XLA_PYTHON_CLIENT_PREALLOCATE": "true"})
    assert mine["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"  # the user's choice wins
    assert "CUDA_VISIBLE_DEVICES" not in mine  # without --gpus, every GPU stays visible


def test_the_pool_gives_each_new_worker_the_least_loaded_gpu():
    pool = devices.GpuPool((2, 0))
    assert [pool.take() for _ in range(3)] == [2, 0, 2]  # round-robin in the order listed
    pool.give_back(0)
    assert pool.take() == 0  # the GPU a finished worker left is refilled first
    assert devices.GpuPool().take() is None


def test_the_pool_balances_workers_started_from_several_threads():
    pool, taken = devices.GpuPool((0, 1)), []
    threads = [threading.Thread(target=lambda: taken.append(pool.take())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == [0] * 4 + [1] * 4


def test_device_records_the_accelerators_and_the_gpu_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    info = reporting.device()  # keras is imported, so its backend's device list is there
    assert info["gpu_environment"] == {
        "CUDA_VISIBLE_DEVICES": "1",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    assert info["accelerator"] and info["devices"]  # the backend's device list, at least the CPU
    assert info["accelerator"].split(":")[0] in ("cpu", "gpu", "cuda", "tpu")
    assert keras.backend.backend() in ("tensorflow", "jax")


def test_the_pdf_header_names_the_gpu_how_many_and_which_one_was_pinned():
    two = {"accelerator": "gpu:NVIDIA H200", "devices": ["gpu:0 NVIDIA H200", "gpu:1 NVIDIA H200"]}
    assert pdf.device_line(two) == "gpu:NVIDIA H200 x 2"
    pinned = {
        **two,
        "devices": two["devices"][:1],
        "gpu_environment": {"CUDA_VISIBLE_DEVICES": "1"},
    }
    assert pdf.device_line(pinned) == "gpu:NVIDIA H200 (GPU 1)"
    assert pdf.device_line({"accelerator": "cpu:cpu", "machine": "x86_64"}) == "cpu:cpu"
    assert pdf.device_line({"machine": "x86_64"}) == "x86_64"


@pytest.mark.notebook
def test_each_worker_gets_the_memory_policy_and_its_gpu_round_robin(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa", "bb", "cc"))
    env = dict(os.environ, KERAS_BACKEND="tensorflow", XLA_PYTHON_CLIENT_MEM_FRACTION=".3")
    env.pop("XLA_PYTHON_CLIENT_PREALLOCATE", None)
    cmd = [*LABS, "--notebooks-dir", str(pack), "run", "--profile", "smoke", "--jobs", "2"]
    cmd += ["--gpus", "0,1", "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = {}
    for name in ("aa", "bb", "cc"):
        metrics = json.loads((tmp_path / "out" / name / "metrics.json").read_text())
        record = json.loads((tmp_path / "out" / name / "run.json").read_text())
        kernel = metrics["device"]["gpu_environment"]  # what the kernel itself saw
        assert kernel["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert kernel["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert kernel["XLA_PYTHON_CLIENT_MEM_FRACTION"] == ".3"  # the user's own setting kept
        assert record["gpu"] == int(kernel["CUDA_VISIBLE_DEVICES"])
        assert record["device"] == metrics["device"]
        seen[name] = record["gpu"]
    assert sorted(seen.values()) in ([0, 0, 1], [0, 1, 1]), seen  # both GPUs, balanced


def test_a_bad_gpus_value_exits_2_before_anything_runs(nbmaker, tmp_path):
    pack = nbmaker.pack(tmp_path / "pack", names=("aa",))
    cmd = [
        *LABS,
        "--notebooks-dir",
        str(pack),
        "run",
        "--gpus",
        "0,x",
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--gpus must be device indices >= 0 separated by commas (e.g. 0,1), got '0,x'" in (
        done.stderr
    )
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- data parallel on several devices

DATA_PARALLEL_RUN = """
import json
from labs_lib import data, models, training

ds = data.load("synthetic", like="mnist", n_train=600, n_val=101, n_test=103, seed=0)
with training.data_parallel(64, len(ds.x_train)) as k:
    histories, nets = training.train_repeats(
        lambda s, name: models.cnn((4, 8), [16], seed=s, name=name), {"cnn": {}}, ds, repeats=2,
        seed=0, epochs=2, batch_size=64, lr=1e-3, return_nets=True,
        clean=(ds.x_train[:101], ds.y_train[:101]),
    )
test = training.evaluate(nets["cnn"][0], ds.x_test, ds.y_test)
print(json.dumps({"devices": k, "loss": [h.loss.tolist() for h in histories["cnn"]],
                  "val_loss": [h.val_loss.tolist() for h in histories["cnn"]], "test": test}))
"""


def run_on_cpu_devices(n):
    """DATA_PARALLEL_RUN under JAX with n simulated CPU devices: its JSON line and its output."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", NPROC=str(4 * n))
    # XLA's simulated CPU devices share one thread pool, NPROC threads (default: the cores). An
    # all-reduce that waits on a pool thread for a device whose work sits queued behind it deadlocks
    # (CI: 2 cores, 2 devices, killed after 40 s). Each op on its own device's thread, and a pool of
    # 4 threads per device, keep every device running.
    env["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={n} --xla_cpu_multi_thread_eigen=false"
    )
    done = subprocess.run(
        [sys.executable, "-c", DATA_PARALLEL_RUN], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
def test_data_parallel_on_four_devices_gives_one_devices_results():
    one, _ = run_on_cpu_devices(1)
    four, printed = run_on_cpu_devices(4)
    assert (one["devices"], four["devices"]) == (1, 4)
    assert "data parallel over 4 devices (16 examples of each batch on each)" in printed
    # the same arithmetic, summed in another order: float32 rounding, nothing more
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(four["val_loss"], one["val_loss"], rtol=1e-5)
    assert four["test"]["accuracy"] == one["test"]["accuracy"]


def test_parallel_devices_splits_every_batch_evenly_or_uses_one():
    assert training.parallel_devices(64, 600, available=4) == 4  # last batch 24: 6 each
    assert training.parallel_devices(64, 610, available=4) == 2  # last batch 34
    assert training.parallel_devices(30, 600, available=8) == 6
    assert training.parallel_devices(64, 600, available=1) == 1
    if keras.backend.backend() != "jax":
        assert training.parallel_devices(64, 600) == 1  # TensorFlow: no keras.distribution
