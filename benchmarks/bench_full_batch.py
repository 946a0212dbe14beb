"""Long full-batch training: one `model.fit` epoch per step against labs_lib.loops' compiled chunks.

    python benchmarks/bench_full_batch.py [--epochs 2000] [--backend tensorflow|jax]

Notebook 06's function fitting: the 4-hidden-layer network [13, 13, 13, 12] (571 weights) on f1 at 2
000 points, full batch, AdamW. Reference: `model.fit(x, y, batch_size=len(x), epochs=E)` (one Python
round trip per epoch), the plain approach. Against it: loops.fit_full_batch with chunks of 1 000
epochs per compiled call. Prints milliseconds per epoch (compilation included, since a notebook pays
it) and the speed-up.
"""

import argparse
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend

    import keras

    from labs_lib import data, loops, models

    x, y = data.function_samples("f1", 2000)

    def net():
        return models.regressor([13, 13, 13, 12], "relu", seed=0)

    reference = net()
    reference.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4), loss="mse")
    start = time.perf_counter()
    reference.fit(x, y, batch_size=len(x), epochs=args.epochs, shuffle=False, verbose=0)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    loops.fit_full_batch(
        net(), keras.optimizers.AdamW(1e-3, weight_decay=1e-4), x, y, epochs=args.epochs, chunk=1000
    )
    loop_s = time.perf_counter() - start

    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, "
        f"{args.epochs} full-batch epochs on 2000 points, 571 weights"
    )
    print(f"{'run':40} {'seconds':>8} {'ms/epoch':>9} {'speed-up':>9}")
    for label, seconds in (
        ("model.fit, one epoch per step (reference)", fit_s),
        ("loops.fit_full_batch, chunks of 1000", loop_s),
    ):
        ms_per_epoch = 1000 * seconds / args.epochs
        print(f"{label:40} {seconds:>8.2f} {ms_per_epoch:>9.3f} {fit_s / seconds:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
