"""Evaluation inside training loops: Keras's own calls against labs_lib's, side by side.

    python benchmarks/bench_eval.py [--backend tensorflow|jax] [--epochs 20] [--hidden 512,512]

Notebook 08 (quick) measures test metrics after every epoch, validates every epoch and evaluates 66
interpolated models: hundreds of small evaluations. Two comparisons, each against the plain Keras
call:
- per epoch of a fit on 2 000 MNIST images at batch 128: no validation; `validation_data=`
  (reference);
  `training.Validation` (what `training.fit` uses), which logs the same numbers;
- one evaluation of N images: `model.predict` (reference) against `training.predict_logits`. Prints
  milliseconds and the ratio to the reference.
"""

import argparse
import os
import sys
import time


def timed(call, repeats):
    call()  # tracing / compilation
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--epochs", type=int, default=20, help="epochs timed per validation set-up")
    parser.add_argument("--hidden", default="512,512", help="hidden widths, comma-separated")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    hidden = [int(w) for w in args.hidden.split(",")]

    import keras

    from labs_lib import data, models, training

    ds = data.load("mnist", n_train=2000, n_val=1000, seed=0)

    def epoch_ms(validation):
        training.set_seed(0)
        net = training.compile_classifier(models.mlp(ds.x_train.shape[1:], hidden, seed=0))
        kwargs = {"validation_data": (ds.x_val, ds.y_val)} if validation == "keras" else {}
        callbacks = [training.Validation(ds.x_val, ds.y_val)] if validation == "labs_lib" else []
        net.fit(
            ds.x_train,
            ds.y_train,
            epochs=1,
            batch_size=128,
            verbose=0,
            callbacks=callbacks,
            **kwargs,
        )  # tracing
        start = time.perf_counter()
        net.fit(
            ds.x_train,
            ds.y_train,
            epochs=args.epochs,
            batch_size=128,
            verbose=0,
            callbacks=callbacks,
            **kwargs,
        )
        return 1000 * (time.perf_counter() - start) / args.epochs

    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, MLP {hidden}, "
        f"{len(ds.x_train)} training images, batch 128, {len(ds.x_val)} validation images"
    )
    rows = [
        (f"fit epoch, {name}", epoch_ms(way))
        for name, way in (
            ("validation_data= (reference)", "keras"),
            ("training.Validation", "labs_lib"),
            ("no validation", None),
        )
    ]
    reference = rows[0][1]
    print(f"{'run':48} {'ms':>9} {'vs reference':>13}")
    for label, ms in rows:
        print(f"{label:48} {ms:>9.1f} {reference / ms:>12.2f}x")
    keras_overhead, labs_overhead = rows[0][1] - rows[2][1], rows[1][1] - rows[2][1]
    print(
        f"validation overhead per epoch: Keras {keras_overhead:.1f} ms, "
        f"labs_lib {labs_overhead:.1f} ms"
    )

    net = models.mlp(ds.x_train.shape[1:], hidden, seed=0)
    for n in (1000, 2000, 10000):
        x = ds.x_test[:n]
        keras_ms = 1000 * timed(lambda: net.predict(x, batch_size=4096, verbose=0), 10)
        ours_ms = 1000 * timed(lambda: training.predict_logits(net, x), 10)
        print(f"{f'predict {n} images, model.predict (reference)':48} {keras_ms:>9.1f} {1:>12.2f}x")
        label = f"predict {n} images, training.predict_logits"
        print(f"{label:48} {ours_ms:>9.1f} {keras_ms / ours_ms:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
