"""Step cost of labs_lib's training step against a hand-written `jax.jit` step, side by side (JAX
backend).

    python benchmarks/bench_step.py [--epochs 3] [--batch-size 512] [--hidden 100,100,100]
        [--n-train 0]

The issue-9 target: for the 3x100 MLP at batch 512 on MNIST, labs_lib's step
(training.compile_classifier + model.fit, as the notebooks train) within 1.5x of a hand-written
jitted step (jax.value_and_grad of the softmax cross-entropy plus an Adam update written out), on
the same device, data already on the device.

Rows, each timed over the steady-state epochs after one warm-up epoch (compilation):
- reference: one jitted step per batch, called from Python, batches pre-sliced on the device;
- reference, scanned: the whole epoch as one jitted lax.scan over the batches (what a compiled loop
  can reach);
- labs_lib: model.fit on NumPy arrays (how the notebooks call it), with
  training.compile_classifier's settings;
- labs_lib, data on device: the same fit given jax arrays. Prints ms per step and the ratio to the
  reference.
"""

import argparse
import os
import sys
import time


def hand_written(x, y, hidden, batch_size, lr=1e-3, seed=0):
    """(step_epoch, scan_epoch, state): a jitted Adam step per batch and a scanned epoch, on device
    data."""
    import jax
    import jax.numpy as jnp

    sizes = [x.shape[1], *hidden, 10]
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    params = [
        (jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b))
        for k, a, b in zip(keys, sizes, sizes[1:])
    ]

    def zeros():  # separate buffers for m and v: the step donates its state
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    state = (params, zeros(), zeros(), jnp.zeros((), jnp.int32))

    def loss_fn(params, xb, yb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        logits = h @ params[-1][0] + params[-1][1]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    def step(state, batch):
        params, m, v, t = state
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        scale = lr * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - scale * m / (jnp.sqrt(v) + 1e-7), params, m, v
        )
        return (params, m, v, t), loss

    n = (len(x) // batch_size) * batch_size
    xb = jax.device_put(x[:n].reshape(-1, batch_size, x.shape[1]))
    yb = jax.device_put(y[:n].reshape(-1, batch_size).astype("int32"))
    jit_step = jax.jit(step, donate_argnums=0)

    def step_epoch(state):
        for i in range(len(xb)):
            state, loss = jit_step(state, (xb[i], yb[i]))
        loss.block_until_ready()
        return state

    scan = jax.jit(lambda state: jax.lax.scan(step, state, (xb, yb)), donate_argnums=0)

    def scan_epoch(state):
        state, losses = scan(state)
        losses.block_until_ready()
        return state

    return step_epoch, scan_epoch, state, len(xb)


def time_epochs(run_epoch, state, epochs):
    """(first epoch s, mean steady epoch s) of run_epoch(state) -> state."""
    times = []
    for _ in range(1 + epochs):
        start = time.perf_counter()
        state = run_epoch(state)
        times.append(time.perf_counter() - start)
    return times[0], sum(times[1:]) / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=3, help="steady-state epochs timed after the first"
    )
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hidden", default="100,100,100", help="hidden widths, comma-separated")
    parser.add_argument("--n-train", type=int, default=0, help="training images, 0 = all 54 000")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    hidden = tuple(int(w) for w in args.hidden.split(","))

    import jax

    from labs_lib import data, models, training

    ds = data.load("mnist", n_train=args.n_train or None)
    n = (
        len(ds.x_train) // args.batch_size
    ) * args.batch_size  # whole batches only, the same for every row
    x = ds.x_train[:n].reshape(n, -1)
    y = ds.y_train[:n]
    step_epoch, scan_epoch, state, steps = hand_written(x, y, hidden, args.batch_size)
    rows = [("reference: jitted step", *time_epochs(step_epoch, state, args.epochs))]
    _, _, state, _ = hand_written(x, y, hidden, args.batch_size)
    rows.append(("reference, scanned epoch", *time_epochs(scan_epoch, state, args.epochs)))

    for label, xs, ys in (
        ("labs_lib fit, NumPy data", x, y),
        ("labs_lib fit, data on device", jax.device_put(x), jax.device_put(y)),
    ):
        training.set_seed(0)
        net = training.compile_classifier(
            models.mlp((x.shape[1],), hidden, kernel_initializer="he_normal"), 1e-3
        )

        def fit_epoch(_, net=net, xs=xs, ys=ys):
            net.fit(xs, ys, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)

        rows.append((label, *time_epochs(fit_epoch, None, args.epochs)))

    print(
        f"device {jax.devices()[0]}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"MLP {list(hidden)}, batch {args.batch_size}, {n} images, {steps} steps/epoch, "
        f"steps_per_execution {training.execution_steps()}"
    )
    print(f"{'run':30} {'first epoch s':>14} {'ms/step':>8} {'vs reference':>13}")
    reference = rows[0][2]
    for label, first, steady in rows:
        print(
            f"{label:30} {first:>14.2f} {1000 * steady / steps:>8.3f} {steady / reference:>12.2f}x"
        )
    print("target: labs_lib within 1.5x of the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
