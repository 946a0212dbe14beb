"""Step cost of labs_lib's training set-up against a plain `model.fit`, side by side.

    python benchmarks/bench_fit.py [--epochs 3] [--backend tensorflow|jax] [--batch-size 512]
                                   [--hidden 100,100,100] [--n-train 0] [--spe 1,32]

Default: the 3x100 MLP of notebooks 01/02 on MNIST (batch 512, Adam), 54 000 training images;
notebook 08's smallest batch is `--batch-size 10 --hidden 512,512 --n-train 6000 --spe 1,32,128`.
Reference: compile() with default settings (steps_per_execution=1), the way past lab reports
trained. Against it: each other --spe value; the row marked * is what training.compile_classifier
uses on this backend (training.STEPS_PER_EXECUTION). The first epoch (tracing/compilation) is
reported apart from the steady-state epochs. Prints seconds per epoch and the ratio to the
reference.
"""

import argparse
import os
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=3, help="steady-state epochs timed after the first"
    )
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hidden", default="100,100,100", help="hidden widths, comma-separated")
    parser.add_argument("--n-train", type=int, default=0, help="training images, 0 = all 54 000")
    parser.add_argument(
        "--spe", default="1,32", help="steps_per_execution values; the first is the reference"
    )
    args = parser.parse_args(argv)
    hidden = tuple(int(w) for w in args.hidden.split(","))
    spes = [int(s) for s in args.spe.split(",")]
    os.environ["KERAS_BACKEND"] = args.backend

    import keras

    from labs_lib import data, models, training

    ds = data.load(
        "mnist", n_train=args.n_train or None
    )  # synthetic when the real files are absent would be misleading: fail instead
    rows = []
    chosen = training.STEPS_PER_EXECUTION.get(keras.backend.backend(), 1)
    for label, spe in [
        ("plain fit (reference)" if spe == 1 else f"steps_per_execution={spe}", spe) for spe in spes
    ]:
        label += " *" if spe == chosen else ""
        training.set_seed(0)
        net = models.mlp(ds.x_train.shape[1:], hidden, kernel_initializer="he_normal")
        training.compile_classifier(net, 1e-3, steps_per_execution=spe)
        times = []
        for _ in range(1 + args.epochs):
            start = time.perf_counter()
            net.fit(ds.x_train, ds.y_train, batch_size=args.batch_size, epochs=1, verbose=0)
            times.append(time.perf_counter() - start)
        rows.append((label, spe, times[0], sum(times[1:]) / args.epochs))
    steps = -(-len(ds.x_train) // args.batch_size)
    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, MLP {list(hidden)}, "
        f"batch {args.batch_size}, {len(ds.x_train)} images, {steps} steps/epoch"
    )
    print(
        f"{'run':24} {'spe':>4} {'first epoch s':>14} {'epoch s':>8} {'ms/step':>8} {'speed-up':>8}"
    )
    reference = rows[0][3]
    for label, spe, first, steady in rows:
        ms_per_step = 1000 * steady / steps
        print(
            f"{label:24} {spe:>4} {first:>14.2f} {steady:>8.3f} {ms_per_step:>8.2f} "
            f"{reference / steady:>7.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
