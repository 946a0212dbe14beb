"""K small networks trained side by side in one model against K separate `model.fit` runs.

    python benchmarks/bench_side_by_side.py [--epochs 2] [--batch-size 32] [--backend
        tensorflow|jax]

Notebook 05's grid at one batch size: the [784, 20, 7, 5, 10] ReLU network, with and without batch
norm (from scratch), L2 0.01 and 0.04 (K = 4), plain SGD at 0.009, on MNIST's 54 000 training
images. Reference: the past reports' plain approach, one default `compile()` + `fit` per
configuration (steps_per_execution=1). Then the same separate runs with labs_lib's per-backend
steps_per_execution, then one models.side_by_side model (what notebook 05 does). Prints seconds per
epoch for all K networks (steady state, the first epoch's tracing reported apart) and the speed-up
over the reference.
"""

import argparse
import os
import sys
import time

CONFIGS = [(False, 0.01), (False, 0.04), ("scratch", 0.01), ("scratch", 0.04)]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=2, help="steady-state epochs timed after the first"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend

    import keras

    from labs_lib import data, models, training

    ds = data.load("mnist")

    def net(i, batch_norm, l2):
        return models.mlp(
            ds.x_train.shape[1:],
            (20, 7, 5),
            kernel_initializer="he_normal",
            name=f"net_{i}",
            penalty="l2",
            strength=l2,
            batch_norm=batch_norm,
        )

    def timed(fit_once):
        times = []
        for _ in range(1 + args.epochs):
            start = time.perf_counter()
            fit_once()
            times.append(time.perf_counter() - start)
        return times[0], sum(times[1:]) / args.epochs

    def separate(spe):
        first = steady = 0.0
        for i, (bn, l2) in enumerate(CONFIGS):
            training.set_seed(0)
            model = training.compile_classifier(
                net(i, bn, l2), 0.009, optimizer="sgd", steps_per_execution=spe
            )
            f, s = timed(
                lambda: model.fit(
                    ds.x_train, ds.y_train, batch_size=args.batch_size, epochs=1, verbose=0
                )
            )
            first, steady = first + f, steady + s
        return first, steady

    def together():
        training.set_seed(0)
        model = models.side_by_side([net(i, bn, l2) for i, (bn, l2) in enumerate(CONFIGS)])
        training.compile_classifier(model, 0.009, optimizer="sgd")
        ys = [ds.y_train] * len(CONFIGS)
        return timed(
            lambda: model.fit(ds.x_train, ys, batch_size=args.batch_size, epochs=1, verbose=0)
        )

    chosen = training.execution_steps()
    rows = [
        ("separate, plain fit (reference)", *separate(1)),
        (f"separate, steps_per_execution={chosen}", *separate(chosen)),
        (f"side by side (K={len(CONFIGS)}), spe={chosen}", *together()),
    ]
    steps = len(ds.x_train) // args.batch_size
    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, {len(ds.x_train)} images, "
        f"batch {args.batch_size}, {steps} steps/epoch, K={len(CONFIGS)} networks"
    )
    print(f"{'run':36} {'first epoch s':>14} {'epoch s (all K)':>16} {'speed-up':>9}")
    reference = rows[0][2]
    for label, first, steady in rows:
        print(f"{label:36} {first:>14.2f} {steady:>16.2f} {reference / steady:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
