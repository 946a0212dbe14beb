"""Diagnostics: look inside a network (activations, weight statistics, unit symmetry)."""
import keras
import numpy as np
import pandas as pd

from labs_lib.models import dense_layers


def hidden_activations(model, x):
    """Outputs of every hidden Dense layer (after its activation) on inputs x: {layer name: array}.

    Runs the layers one by one, eagerly: no compiled function to trace for a one-off probe.
    """
    hidden = dense_layers(model)[:-1]
    outputs, h = {}, keras.ops.convert_to_tensor(x)
    for layer in model.layers:
        h = layer(h)
        if layer in hidden:
            outputs[layer.name] = keras.ops.convert_to_numpy(h)
    return outputs


def unit_spread(kernel):
    """How different a layer's units are: max over inputs of (max - min) across the units' weights.

    kernel: array (inputs, units). 0 means every unit has the same weights (a symmetric layer).
    """
    kernel = np.asarray(kernel)
    return float(np.max(np.ptp(kernel, axis=1)))


def weight_stats(model):
    """Mean and standard deviation of each Dense layer's kernel, as a DataFrame (one row per layer)."""
    rows = []
    for layer in dense_layers(model):
        kernel = np.asarray(layer.kernel)
        rows.append({"layer": layer.name, "mean": float(kernel.mean()), "std": float(kernel.std()),
                     "unit_spread": unit_spread(kernel)})
    return pd.DataFrame(rows)
