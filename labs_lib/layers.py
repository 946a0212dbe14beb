"""Layers written from scratch for teaching: batch normalization with keras.ops only.

Same weights, equations and running-average update as keras.layers.BatchNormalization (2-D inputs).
"""

import keras
from keras import ops


class BatchNorm(keras.layers.Layer):
    """Batch norm of (batch, features) inputs, a readable twin of keras.layers.BatchNormalization.

    Training (per feature, over the mini-batch B):
        mu = mean_B(x)                       var = mean_B((x - mu)^2)   (biased)
        x_hat = (x - mu) / sqrt(var + epsilon)
        y = gamma * x_hat + beta
        moving_mean = momentum * moving_mean + (1 - momentum) * mu
        moving_variance = momentum * moving_variance + (1 - momentum) * var
    Inference: the same y with mu, var replaced by moving_mean, moving_variance.
    """

    def __init__(self, momentum=0.9, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
            raise ValueError(f"momentum must be a float in [0, 1), got {momentum!r}")
        if not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise ValueError(f"epsilon must be a float > 0, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"BatchNorm expects 2-D inputs (batch, features), got shape {tuple(input_shape)}"
            )
        shape = (input_shape[-1],)  # one of each per feature, in Keras's BatchNormalization order
        self.gamma = self.add_weight(shape=shape, name="gamma", initializer="ones", trainable=True)
        self.beta = self.add_weight(shape=shape, name="beta", initializer="zeros", trainable=True)
        self.moving_mean = self.add_weight(
            shape=shape, name="moving_mean", initializer="zeros", trainable=False
        )
        self.moving_variance = self.add_weight(
            shape=shape, name="moving_variance", initializer="ones", trainable=False
        )

    def call(self, inputs, training=False):
        # A frozen layer (trainable=False) uses the running averages, as in Keras.
        if training and self.trainable:
            mu = ops.mean(inputs, axis=0)  # mini-batch mean
            var = ops.mean(ops.square(inputs - mu), axis=0)  # mini-batch variance (biased)
            # running averages, used at inference time
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mu)
            self.moving_variance.assign(
                self.momentum * self.moving_variance + (1 - self.momentum) * var
            )
        else:
            mu, var = self.moving_mean, self.moving_variance
        x_hat = (inputs - mu) / ops.sqrt(var + self.epsilon)  # normalize
        return self.gamma * x_hat + self.beta  # scale and shift

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}
