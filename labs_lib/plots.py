"""Plots: one seaborn theme, a colour per configuration, figures that read on paper and screen."""

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import MaxNLocator


def set_theme():
    """The pack's figure theme (seaborn whitegrid, readable font sizes, inline-friendly size)."""
    sns.set_theme(
        style="whitegrid", context="notebook", rc={"figure.dpi": 100, "axes.titlesize": 11}
    )


def colors(names):
    """A fixed colour per configuration name, kept across all figures of a notebook; all distinct
    (tab10's ten, then tab20's ten light ones, then evenly spaced hues)."""
    palette = sns.color_palette("tab10") + sns.color_palette("tab20")[1::2]
    if len(names) > len(palette):
        palette += sns.color_palette("husl", n_colors=len(names) - len(palette))
    return {name: palette[i] for i, name in enumerate(names)}


def needs_log(values, ratio=100):
    """True when positive values span more than `ratio` (two decades; a log axis reads better)."""
    values = np.asarray([v for v in np.ravel(values) if np.isfinite(v) and v > 0])
    return len(values) > 1 and values.max() / values.min() > ratio


def seed_runs(runs):
    """A list of histories (one per seed) from one history or a list of them."""
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]


def mean_band(ax, runs, column, color, x="epoch", **style):
    """The mean over seeds of `column` against `x` as a line, and its min-max over seeds as a band
    (no band for one seed). runs: one history or a list of them."""
    runs = seed_runs(runs)
    values = np.stack([r[column].to_numpy(dtype="float64") for r in runs])
    steps = runs[0][x].to_numpy()
    line = ax.plot(steps, values.mean(axis=0), color=color, **style)
    if len(runs) > 1:
        ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)
    return line


def spans_decades(histories, columns):
    """True if the values of `columns` over every history (and seed) span more than a decade."""
    values = [r[c] for h in histories.values() for r in seed_runs(h) for c in columns]
    return needs_log(np.concatenate(values), ratio=10)


def loss_grid(histories, title, ncols=3, sharey=False, metric="loss", train="loss"):
    """One panel per configuration: train (solid) and validation (dashed) `metric` against epoch.

    histories: {name: history, or a list of histories (one per seed: mean line, min-max band)}.
    sharey: one y axis for every panel (compare levels across panels); else each panel its own.
    metric: "loss" (cross-entropy, log axis when the panels span more than a decade) or "accuracy".
    train: the training column ("eval_loss": inference mode on clean examples).
    """
    names = list(histories)
    palette = colors(names)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(
        nrows,
        min(ncols, len(names)),
        figsize=(4.2 * min(ncols, len(names)), 3.2 * nrows),
        sharex=True,
        sharey=sharey,
        squeeze=False,
    )
    train_column = train if metric == "loss" else train.replace("loss", "accuracy")
    logy = metric == "loss" and spans_decades(histories, (train_column, f"val_{metric}"))
    for ax, name in zip(axes.flat, names):
        h = histories[name]
        mean_band(ax, h, train_column, palette[name], label="train")
        mean_band(ax, h, f"val_{metric}", palette[name], linestyle="--", label="validation")
        if logy:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not sharey or ax in axes[:, 0]:
            ax.set_ylabel("cross-entropy loss" if metric == "loss" else metric)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def overlay(histories, column, title, ylabel):
    """One line per configuration of `column` (e.g. val_loss) against epoch, log axis if needed;
    with a list of histories per configuration, the mean over seeds and a min-max band."""
    palette = colors(list(histories))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, h in histories.items():
        mean_band(ax, h, column, palette[name], label=name)
    values = [r[column].to_numpy() for h in histories.values() for r in seed_runs(h)]
    if needs_log(np.concatenate(values)):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    fig.tight_layout()
    return fig


def activation_histograms(activations, title, bins=50):
    """Rows = configurations, columns = hidden layers: each layer's non-zero activations.

    activations: {configuration: {layer name: array}}. ReLU outputs many exact zeros, which would
    dwarf the rest, so each panel plots the non-zero values and notes the mean, std, share of zeros.
    The panels of a row share one log x axis: a scale that shrinks or grows with depth shows as a
    shift from panel to panel, by decades if need be.
    """
    return histogram_grid(
        activations,
        title,
        "non-zero activation value (ReLU output)",
        bins,
        nonzero_only=True,
        sharex="row",
        logx=True,
    )


def weight_histograms(weights, title, bins="auto"):
    """Rows = configurations, columns = layers: each layer's weights, with their mean and std.

    bins "auto" (numpy's rule) picks each panel's bins from its number of weights: a 7 x 5 layer
    gets a handful, a 784 x 20 one a hundred or so.
    """
    return histogram_grid(weights, title, "weight value", bins)


def histogram_grid(
    values_by_config, title, xlabel, bins=50, nonzero_only=False, sharex=False, logx=False
):
    """Rows = configurations, columns = layers: a histogram per {configuration: {layer: array}}.

    Each panel notes the mean, std and share of exact zeros of all its values; nonzero_only leaves
    the zeros out of the histogram itself (ReLU outputs, where they would dwarf the rest).
    sharex: "row" gives the panels of a row one x axis (compare a configuration's layers); False,
    each panel its own. logx: log-spaced bins on a log x axis, for positive values (the others
    are left out of the histogram, not of the mean, std and zeros).
    """
    names = list(values_by_config)
    layers = list(next(iter(values_by_config.values())))
    palette = colors(names)
    fig, axes = plt.subplots(
        len(names),
        len(layers),
        figsize=(3.4 * len(layers), 2.2 * len(names)),
        squeeze=False,
        sharex=sharex,
    )
    for row, name in enumerate(names):
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            histogram_panel(
                ax, values_by_config[name][layer], palette[name], bins, nonzero_only, logx
            )
            if row == 0:
                ax.set_title(layer)
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
        if sharex == "row" and not any(ax.patches for ax in axes[row]):
            axes[row, 0].set_xticks([])  # a row without data: no scale to show
    axes[-1, len(layers) // 2].set_xlabel(xlabel)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def histogram_panel(ax, values, color, bins, nonzero_only, logx=False):
    """One panel of histogram_grid: the histogram, and a box with mean, std and share of zeros."""
    values = np.ravel(values)
    shown = values[values != 0] if nonzero_only else values
    if logx:
        shown = shown[shown > 0]
    if shown.size:
        edges, style = bins, {}
        if logx:  # bars a pixel wide where a row spans decades: no white edges to hide them
            ax.set_xscale("log")
            style = {"linewidth": 0}
            if shown.max() > shown.min():
                edges = np.geomspace(shown.min(), shown.max(), bins + 1)
        ax.hist(shown, bins=edges, color=color, **style)
    else:
        empty = "all values are 0" if not np.any(values) else "no positive values"
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center")
        if len(ax.get_shared_x_axes().get_siblings(ax)) == 1:  # a shared axis keeps its ticks
            ax.set_xticks([])
    stats = f"mean {values.mean():.3g}\nstd {values.std():.3g}\nzeros {np.mean(values == 0):.0%}"
    ax.text(
        0.02 if logx else 0.98,  # on a log axis the bulk sits right, the sparse tail left
        0.95,
        stats,
        transform=ax.transAxes,
        ha="left" if logx else "right",
        va="top",
        fontsize=7,
        bbox=dict(boxstyle="round", fc="white", alpha=0.8),
    )
    ax.set_yticks([])


def gap_vs_strength(sweeps, title, xlabel="strength", baseline=None):
    """Final generalization gap (val - train loss) against strength, one line per swept technique.

    sweeps: {technique: DataFrame with columns strength, gap (and gap_sd: error bars of +- 1 sd
    over seeds)}; log x axis if the strengths span more than a decade.
    baseline: the gap without regularization, drawn as a dashed line.
    """
    palette = colors(list(sweeps))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, frame in sweeps.items():
        sd = frame["gap_sd"] if "gap_sd" in frame else None
        ax.errorbar(
            frame["strength"],
            frame["gap"],
            yerr=sd,
            marker="o",
            capsize=3,
            color=palette[name],
            label=name,
        )
    strengths = np.concatenate([f["strength"].to_numpy(dtype=float) for f in sweeps.values()])
    if needs_log(strengths, ratio=10):
        ax.set_xscale("log")
    ax.axhline(0, color="grey", linewidth=0.8)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="no regularization")
    ax.set(title=title, xlabel=xlabel, ylabel="final gap: val loss - train loss")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "no regularization")
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=9)
    fig.tight_layout()
    return fig


def accuracy_bars(table, title, label="technique", value="val_accuracy"):
    """Horizontal bars of an accuracy column (`value`) per configuration from 0, each value printed;
    error bars of +- 1 sd over seeds when the table has a `value`_sd column."""
    names = list(table[label])
    palette = colors(names)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.2))
    sd = table[f"{value}_sd"] if f"{value}_sd" in table else None
    ax.barh(names, table[value], xerr=sd, capsize=3, color=[palette[n] for n in names])
    for y, v in enumerate(table[value]):
        ax.text(0.01, y, f"{v:.1%}", va="center", fontsize=8, color="white", fontweight="bold")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set(
        title=title,
        xlabel="final validation accuracy" if value == "val_accuracy" else value.replace("_", " "),
    )
    fig.tight_layout()
    return fig


def per_layer_lines(frame, columns, title, ylabels=None, change=False):
    """One panel per column (e.g. mean, std) against epoch, one line per layer (dark = deep).

    change: plot |value - value at epoch 0| on a log axis instead, from epoch 1: layers whose
    statistics barely move (orders of magnitude apart) then read apart. Layers whose value never
    changed have no line to draw: the panel lists them.
    """
    layers = list(dict.fromkeys(frame["layer"]))
    shades = sns.color_palette("viridis", n_colors=len(layers))
    fig, axes = plt.subplots(1, len(columns), figsize=(5.5 * len(columns), 3.8), squeeze=False)
    for ax, column, ylabel in zip(axes[0], columns, ylabels or columns):
        unchanged = []
        for shade, layer in zip(shades, layers):
            rows = frame[frame["layer"] == layer].sort_values("epoch")
            x, y = rows["epoch"].to_numpy(), rows[column].to_numpy(dtype="float64")
            if change:
                x, y = x[1:], np.abs(y[1:] - y[0])
                y[y == 0] = np.nan
                if not np.isfinite(y).any():
                    unchanged.append(layer)
            ax.plot(x, y, color=shade, label=layer)
        if change:
            ax.set_yscale("log")
        if unchanged:
            names = textwrap.fill("no change at all: " + ", ".join(unchanged), 60)
            ax.set_title(names, fontsize=8)
        ax.set(xlabel="epoch" if change else "epoch (0 = initialization)", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gradient_heatmap(frame, title, value="grad_norm", label="gradient norm ||dL/dW|| (log)"):
    """Layer x epoch heat map of gradient norms on a log colour scale (input layer at the top).

    value: the column shown (e.g. grad_rms, the RMS gradient per weight); label: the colour bar's.
    """
    from matplotlib.colors import LogNorm

    table = frame.pivot(index="layer", columns="epoch", values=value)
    table = table.loc[list(dict.fromkeys(frame["layer"]))]
    positive = table.to_numpy()[table.to_numpy() > 0]
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
    fig, ax = plt.subplots(figsize=(min(14, 2 + 0.35 * table.shape[1]), 0.4 * len(table) + 1.5))
    sns.heatmap(table, ax=ax, norm=norm, cmap="magma", cbar_kws={"label": label})
    ax.set(title=title, xlabel="epoch (0 = initialization)", ylabel="layer (input at the top)")
    fig.tight_layout()
    return fig


def weight_change(start, end, title, bins=80):
    """First vs last epoch weights of one layer: both histograms, and one of the change."""
    start, end = np.ravel(start), np.ravel(end)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    span = (min(start.min(), end.min()), max(start.max(), end.max()))
    left.hist(start, bins=bins, range=span, alpha=0.6, label="first epoch (initial)")
    left.hist(end, bins=bins, range=span, alpha=0.6, label="last epoch")
    left.set(xlabel="weight value", ylabel="count", title="weights")
    left.legend(fontsize=8)
    change = end - start
    right.hist(change, bins=bins, color="grey")
    right.set(xlabel="last - first", title=f"change: mean |dw| = {np.abs(change).mean():.2e}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def norms_by_depth(frames, title, value="grad_norm", ylabel="gradient norm (log)"):
    """Gradient norm against layer depth (log axis), a line per configuration: where it vanishes.

    frames: {name: frame, or a list of frames (one per seed): the geometric mean over seeds as the
    line, their min-max as a band}; each frame one row per layer, input to output.
    """
    palette = colors(list(frames))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in frames.items():
        runs = seed_runs(runs)
        layers = list(dict.fromkeys(runs[0]["layer"]))
        values = np.stack([f.set_index("layer").loc[layers, value].to_numpy(float) for f in runs])
        depth = np.arange(1, len(layers) + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            line = np.exp(np.log(values).mean(axis=0)) if len(runs) > 1 else values[0]
        ax.plot(depth, line, marker="o", color=palette[name], label=name)
        if len(runs) > 1:
            low, high = values.min(axis=0), values.max(axis=0)
            ax.fill_between(depth, low, high, color=palette[name], alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel="layer (1 = first hidden layer; last = output)", ylabel=ylabel)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


HELD_OUT = {"val": "validation", "test": "test"}


def family_curves(runs, title, x="epoch", xlabel=None, held_out="val"):
    """Two panels, loss (log axis) and accuracy against `x`: a colour per run, train solid.

    The held-out set is dashed: held_out "val" plots columns val_loss and val_accuracy, "test"
    test_loss and test_accuracy.
    """
    palette = colors(list(runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for name, h in runs.items():
            ax.plot(h[x], h[metric], color=palette[name], label=f"{name} (train)")
            ax.plot(
                h[x],
                h[f"{held_out}_{metric}"],
                color=palette[name],
                linestyle="--",
                label=f"{name} ({HELD_OUT[held_out]})",
            )
        if metric == "loss":  # the first steps' large losses would flatten later differences
            ax.set_yscale("log")
        ax.set(
            xlabel=xlabel or x,
            ylabel="cross-entropy loss (log scale)" if metric == "loss" else "accuracy",
        )
    axes[1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_heatmaps(
    table,
    title,
    rows="batch_size",
    columns=("epochs", "l2"),
    panels="network",
    value="test_accuracy",
):
    """A heat map per `panels` value: `value` (a fraction, annotated in %) by `rows` x `columns`;
    with a `value`_sd column (over seeds) each cell also shows "+- sd"."""
    groups = list(dict.fromkeys(table[panels]))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.6 * len(groups), 3.4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        part = table[table[panels] == group]
        grid = part.pivot_table(index=rows, columns=list(columns), values=value)
        annot = percent_annotations(part, grid, rows, columns, value)
        grid.columns = [
            "\n".join(
                f"{c.replace('_', ' ')} {v:g}"
                for c, v in zip(columns, key if isinstance(key, tuple) else (key,))
            )
            for key in grid.columns
        ]
        sns.heatmap(
            grid * 100,
            annot=annot.to_numpy(),
            fmt="",
            cmap="viridis",
            vmin=table[value].min() * 100,
            vmax=table[value].max() * 100,
            cbar=ax is axes[0, -1],
            ax=ax,
            cbar_kws={"label": f"{value.replace('_', ' ')} (%)"},
        )
        ax.set(title=f"{panels}: {group}", ylabel=rows.replace("_", " "))
        ax.tick_params(axis="x", labelsize=8, labelrotation=0)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def validation_checks(checks, stops, title):
    """Validation loss at each early-stopping check against step, a colour per run; x: a stop.

    checks: {run: DataFrame(step, val_loss), or a list of them (one per seed)}; stops: {run: step
    it stopped at or None, or a list of them}. The legend says how many seeds each rule stopped.
    """
    palette = colors(list(checks))
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, frames in checks.items():
        frames, at = seed_runs(frames), seed_runs(stops[name])
        stopped = sum(s is not None for s in at)
        label = f"{name} (stopped {stopped} of {len(at)})" if len(at) > 1 else name
        for i, (frame, step) in enumerate(zip(frames, at)):
            style = dict(color=palette[name], alpha=1 if len(at) == 1 else 0.6)
            ax.plot(frame.step, frame.val_loss, label=None if i else label, **style)
            if step is not None:
                ax.plot([step], frame.val_loss.iloc[-1:], "x", markersize=10, mew=2, **style)
    values = [f.val_loss.to_numpy() for fs in checks.values() for f in seed_runs(fs)]
    if needs_log(np.concatenate(values)):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="training step", ylabel="validation cross-entropy")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    fig.tight_layout()
    return fig


def fit_losses(histories, groups, title, marks=None):
    """One panel per group (e.g. target function): loss against epoch, log-log axes.

    One line per run whose name starts with the group; `marks` {run: epoch or None} puts a dot where
    a run converged.
    """
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        runs = {name: h for name, h in histories.items() if name.startswith(f"{group},")}
        palette = colors(list(runs))
        for name, h in runs.items():
            ax.plot(h.epoch, h.loss, color=palette[name], label=name.split(", ", 1)[1])
            epoch = (marks or {}).get(name)
            if epoch and epoch == epoch:  # not None / NaN
                ax.plot(
                    [epoch], [h.loss.iloc[int(epoch) - 1]], "o", color=palette[name], markersize=7
                )
        ax.set(xscale="log", yscale="log", title=group, xlabel="epoch", ylabel="MSE")
        ax.legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def fit_predictions(targets, predictions, title):
    """One panel per target {name: (x, y)}: the target in black, each prediction in colour.

    predictions: {(target name, run label): predicted y, or a list of them (one per seed: median
    line, min-max band)}. The legend sits outside the panel, clear of the data.
    """
    fig, axes = plt.subplots(1, len(targets), figsize=(7.5 * len(targets), 4), squeeze=False)
    for ax, (name, (x, y)) in zip(axes[0], targets.items()):
        ax.plot(x[:, 0], y[:, 0], color="black", linewidth=2.5, label="target")
        runs = {label: p for (fn, label), p in predictions.items() if fn == name}
        palette = colors(list(runs))
        for label, p in runs.items():
            seeds = np.stack([np.ravel(q) for q in p]) if isinstance(p, list) else np.ravel(p)[None]
            ax.plot(x[:, 0], np.median(seeds, axis=0), color=palette[label], lw=1.3, label=label)
            if len(seeds) > 1:
                low, high = seeds.min(axis=0), seeds.max(axis=0)
                ax.fill_between(x[:, 0], low, high, color=palette[label], alpha=0.2, lw=0)
        ax.set(title=name, xlabel="x", ylabel="y")
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def metrics_against(table, x, title, xlabel, extra=(), logx=True, held_out="test"):
    """Train (solid) and held-out (dashed) loss and accuracy against `x` (e.g. parameter count).

    One point per row of `table` (columns train_loss, <held_out>_loss, train_accuracy,
    <held_out>_accuracy; with the <column>_sd columns of stats.over_seeds, sd error bars); `extra`
    adds one panel per (column, ylabel) pair, log axis when the values span decades. Two panels a
    row up to four panels, three beyond, so that the figure stays legible as a thumbnail.
    """
    panels = [("loss", "cross-entropy loss"), ("accuracy", "accuracy")] + list(extra)
    ncols = 2 if len(panels) <= 4 else 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.7 * nrows), squeeze=False)
    table = table.sort_values(x)
    parts = {"train": ("-o", "tab:blue"), held_out: ("--s", "tab:orange")}
    for ax, (column, ylabel) in zip(axes.flat, panels):
        if column in ("loss", "accuracy"):
            shown = [f"{part}_{column}" for part in parts]
            for (part, (style, color)), name in zip(parts.items(), shown):
                error_line(ax, table, x, name, style, color, label=part)
            ax.legend(fontsize=9)
        else:
            shown = [column]
            error_line(ax, table, x, column, "-o", "tab:green")
        if column != "accuracy" and needs_log(table[shown].to_numpy()):
            ax.set_yscale("log")
        ax.set(xlabel=xlabel, ylabel=ylabel)
        if logx:
            ax.set_xscale("log")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def error_line(ax, table, x, column, style, color, label=None):
    """`column` against `x` as a line with sd error bars when the table has `column`_sd."""
    sd = table[f"{column}_sd"].to_numpy(dtype=float) if f"{column}_sd" in table else None
    xs, ys = table[x].to_numpy(dtype=float), table[column].to_numpy(dtype=float)
    ax.errorbar(xs, ys, yerr=sd, fmt=style, color=color, capsize=3, label=label)


def interpolation_curves(curves, title):
    """One row per pair: loss (log axis) and accuracy against alpha, train solid, test dashed.

    curves: {name: (curve or [curve per seed], (label at 0, label at 1))}, a curve being a
    DataFrame from diagnostics.interpolation_curve; over seeds, the mean line and the min-max band.
    Grey lines mark the two trained models.
    """
    fig, axes = plt.subplots(len(curves), 2, figsize=(11, 3.6 * len(curves)), squeeze=False)
    for row, (name, (curve, ends)) in zip(axes, curves.items()):
        for ax, metric in zip(row, ("loss", "accuracy")):
            mean_band(ax, curve, f"train_{metric}", "tab:blue", x="alpha", label="train")
            mean_band(
                ax, curve, f"test_{metric}", "tab:orange", x="alpha", linestyle="--", label="test"
            )
            for alpha, label, style in zip((0, 1), ends, (":", "-.")):
                ax.axvline(
                    alpha,
                    color="grey",
                    linestyle=style,
                    linewidth=1,
                    label=f"alpha {alpha}: {label}",
                )
            if metric == "loss":
                ax.set_yscale("log")
            ax.set(
                xlabel="alpha",
                ylabel="cross-entropy loss (log scale)" if metric == "loss" else "accuracy",
                title=name,
            )
            ax.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- 02 initialization: panel helpers


def mark_reference(fig, y, label):
    """A dotted grey line at height `y` in every visible data panel of `fig`, named `label` at its
    right end (e.g. ln 10, the loss of a uniform guess over 10 classes); the y range grows to
    include it."""
    for ax in fig.axes:
        if ax.get_visible() and ax.lines:
            ax.axhline(y, color="grey", linestyle=":", linewidth=1.2)
            ax.annotate(
                label,
                (1, y),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=8,
                color="grey",
            )


def show_x_tick_labels(fig):
    """x tick labels on every visible panel (a shared x axis labels only the bottom row, which
    leaves a panel above an empty grid slot without any), then the layout made again for them."""
    for ax in fig.axes:
        if ax.get_visible():
            ax.tick_params(axis="x", labelbottom=True)
    fig.tight_layout()


# ---------------------------------------------------------------- 04 low-level softmax


def seed_family_curves(runs, title, x="step", xlabel=None, zoom_after=0.25, final_from=None):
    """Loss (log axis) and accuracy against `x` of runs repeated over seeds: a colour per run, the
    mean over seeds as a line and the min-max over seeds as a band, train solid, validation dashed.

    runs: {name: [curve per seed]}. The accuracy axis is zoomed to what the curves reach after the
    first `zoom_after` of the x range, so that differences of a point stay visible (the early, low
    accuracies leave the panel at its bottom). final_from: shade x >= final_from (the points that
    the final metrics average).
    """
    palette = colors(list(runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for name, h in runs.items():
            mean_band(ax, h, metric, palette[name], x=x, label=f"{name} (train)")
            mean_band(
                ax,
                h,
                f"val_{metric}",
                palette[name],
                x=x,
                linestyle="--",
                label=f"{name} (validation)",
            )
        if metric == "loss":  # the first steps' large losses would flatten later differences
            ax.set_yscale("log")
        if final_from is not None:
            last = max(r[x].max() for h in runs.values() for r in seed_runs(h))
            ax.axvspan(final_from, last, color="grey", alpha=0.12, lw=0)
        ax.set(
            xlabel=xlabel or x,
            ylabel="cross-entropy loss (log scale)" if metric == "loss" else "accuracy (zoomed)",
        )
    zoom_accuracy(axes[1], [r for h in runs.values() for r in seed_runs(h)], x, zoom_after)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def zoom_accuracy(ax, curves, x, zoom_after):
    """y limits of an accuracy panel around every curve's accuracy and val_accuracy after the first
    `zoom_after` of the x range (a little margin; within 0 and 1)."""
    start = min(r[x].min() for r in curves) + zoom_after * np.ptp(curves[0][x])
    late = np.concatenate(
        [r.loc[r[x] >= start, c].to_numpy() for r in curves for c in ("accuracy", "val_accuracy")]
    )
    late = late[np.isfinite(late)]
    if len(late):
        low, high = late.min(), late.max()
        pad = 0.08 * (high - low) + 0.002
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))


PENALTY_COLORS = {"none": "dimgrey", "l2": "tab:blue", "l1": "tab:red"}


def near_zero_weights(table, magnitudes, title, threshold, marks=()):
    """Left: share of weights with |w| < threshold against penalty strength (log axis), a line per
    penalty with sd error bars over seeds, the unpenalized net as a grey line; right: histograms of
    |w| (log axis) of one seed's nets, the threshold marked, exact zeros counted in the legend.

    table: rows with run, penalty ("none" for the unpenalized net), strength, near_zero,
    near_zero_sd; magnitudes: {run: weights of one trained net, any shape}; marks: (x, label)
    pairs drawn as dashed lines on the histograms.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for kind, group in table[table.penalty != "none"].groupby("penalty", sort=False):
        color = PENALTY_COLORS.get(kind)
        left.errorbar(
            group.strength,
            group.near_zero,
            yerr=group.near_zero_sd,
            marker="o",
            capsize=3,
            color=color,
            label=kind.upper(),
        )
    for share in table.loc[table.penalty == "none", "near_zero"]:
        left.axhline(share, color="grey", linestyle=":", label="no penalty")
    left.set_xscale("log")
    left.set_ylim(bottom=0)
    left.set(xlabel="penalty strength (log scale)", ylabel=f"share with |w| < {threshold:g}")
    left.legend(fontsize=8)
    kinds = table.set_index("run").penalty
    magnitude_histograms(
        right, magnitudes, threshold, {n: PENALTY_COLORS[k] for n, k in kinds.items()}
    )
    for x, label in marks:
        right.axvline(x, color="black", linestyle="--", linewidth=1, label=label)
    right.set_ylim(top=right.get_ylim()[1] * 1.6)  # room for the legend above the histograms
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def magnitude_histograms(ax, magnitudes, threshold, palette=None):
    """Step histograms of |w| per net on log axes (exact zeros counted in the legend instead);
    palette: {name: colour}, else one per name."""
    palette = palette or colors(list(magnitudes))
    bins = np.logspace(-7, 0.5, 61)
    for name, weights in magnitudes.items():
        w = np.abs(np.ravel(weights))
        ax.hist(
            np.clip(w[w > 0], bins[0], bins[-1]),
            bins=bins,
            histtype="step",
            linewidth=1.4,
            color=palette[name],
            label=f"{name} ({int(np.sum(w == 0))} exact zero{'' if np.sum(w == 0) == 1 else 's'})",
        )
    ax.axvline(threshold, color="grey", linestyle=":", linewidth=1.2, label=f"|w| = {threshold:g}")
    ax.set_xscale("log")
    ax.set(xlabel="|w| (log scale)", ylabel="weights per bin")


# ---------------------------------------------------------------- 03 activations


def chance_line(fig, level=float(np.log(10)), label="ln 10 (uniform guess)", min_span=0.1):
    """Mark `level` (by default ln 10, the loss of a uniform guess over 10 classes) on every
    visible panel of `fig`, and widen any y axis narrower than `min_span` around its centre, so
    that noise of a few thousandths does not fill a panel and look like learning."""
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        ax.axhline(level, color="grey", linestyle=":", linewidth=1.2, label=label)
        low, high = ax.get_ylim()
        if ax.get_yscale() == "linear" and high - low < min_span:
            centre = (low + high) / 2
            ax.set_ylim(centre - min_span / 2, centre + min_span / 2)
        ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- 08 generalization


def held_out_bands(runs, title, held_out="test"):
    """Loss (log axis) and accuracy against epoch of runs over seeds: a colour per run, the mean
    over seeds as a line and the min-max as a band; train solid, `held_out` dashed (columns
    <held_out>_loss and <held_out>_accuracy). runs: {name: [history per seed]}."""
    palette = colors(list(runs))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for name, h in runs.items():
            mean_band(ax, h, metric, palette[name], label=f"{name} (train)")
            mean_band(
                ax,
                h,
                f"{held_out}_{metric}",
                palette[name],
                linestyle="--",
                label=f"{name} ({held_out})",
            )
        ax.set(xlabel="epoch", ylabel="cross-entropy loss" if metric == "loss" else "accuracy")
    axes[0].set_yscale("log")
    axes[1].set_ylim(0, 1.02)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- 07 optimization


def pca_paths(panels, finals, title, explained=None):
    """One panel per {panel title: {run: (records x 2) projection}}: each run's path in the PCA
    plane (a colour per run, start a square, end a star); finals {run: final accuracy} go in the
    legend (one label per run, so labels never overlap the paths or each other)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, (panel, runs) in zip(axes[0], panels.items()):
        palette = colors(list(runs))
        for run, points in runs.items():
            style = {"color": palette[run]}
            ax.plot(
                points[:, 0],
                points[:, 1],
                "-o",
                markersize=2.5,
                linewidth=1,
                **style,
                label=f"{run}: {finals[run]:.3f}",
            )
            ax.plot(*points[0], "s", markersize=6, **style)
            ax.plot(*points[-1], "*", markersize=11, **style)
        ratio = (explained or {}).get(panel)
        ax.set(
            title=panel,
            xlabel="PC 1" + (f" ({ratio[0]:.0%} of variance)" if ratio is not None else ""),
            ylabel="PC 2" + (f" ({ratio[1]:.0%})" if ratio is not None else ""),
        )
    axes[0, -1].legend(
        loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="final val. accuracy"
    )
    fig.suptitle(title + "  (square: start, star: end)")
    fig.tight_layout()
    return fig


def critical_points(table, title, tol):
    """Left: loss (log axis) against minimal ratio, critical points (column `critical`) filled,
    the others hollow grey. Right: gradient norm against the decisive |eigenvalue| (log-log) with
    the line ||grad|| = tol x |lambda| below which a point counts as critical."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, (x, y) in (
        (left, ("minimal_ratio", "loss")),
        (right, ("lambda_decisive", "grad_norm")),
    ):
        for flag, style in (
            (False, {"facecolors": "none", "edgecolors": "tab:gray"}),
            (True, {"color": "tab:red"}),
        ):
            rows = table[table.critical == flag]
            label = "critical" if flag else "not critical (not classified)"
            ax.scatter(rows[x], rows[y], s=22, label=f"{label}: {len(rows)}", **style)
        ax.set_yscale("log")
    left.set(xlabel="minimal ratio (share of positive Hessian eigenvalues)", ylabel="loss (MSE)")
    positive = table.lambda_decisive[table.lambda_decisive > 0]
    if len(positive):
        span = np.array([positive.min(), positive.max()])
        right.plot(span, tol * span, "k--", linewidth=1, label=f"||grad|| = {tol:g} x |lambda|")
        right.set_xscale("log")
    right.set(xlabel="decisive |eigenvalue|", ylabel="gradient norm")
    left.legend(fontsize=8), right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------- function fits over seeds (notebook 06)


def seed_fit_losses(curves, thresholds, marks, title):
    """One panel per function: each network's MSE against epoch over seeds (median line, min-max
    band), log-log; the convergence threshold dashed; a dot per seed where it converged.

    curves: {function: {network: (seeds x epochs) array}}; thresholds: {function: MSE};
    marks: {function: {network: [converged epoch or None per seed]}}.
    """
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.2), squeeze=False)
    for ax, (fn, runs) in zip(axes[0], curves.items()):
        palette = colors(list(runs))
        for name, losses in runs.items():
            losses = np.atleast_2d(losses)
            epochs = np.arange(1, losses.shape[1] + 1)
            ax.plot(epochs, np.median(losses, axis=0), color=palette[name], label=name)
            if len(losses) > 1:
                low, high = losses.min(axis=0), losses.max(axis=0)
                ax.fill_between(epochs, low, high, color=palette[name], alpha=0.2, lw=0)
            hits = [e for e in marks.get(fn, {}).get(name, []) if e is not None and e == e]
            ax.plot(hits, [thresholds[fn]] * len(hits), "o", color=palette[name], markersize=6)
        ax.axhline(thresholds[fn], color="black", linestyle="--", linewidth=1, label="threshold")
        ax.set(xscale="log", yscale="log", title=fn, xlabel="epoch", ylabel="MSE")
        ax.legend(fontsize=9, loc="lower left")  # the curves start high and fall to the right
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_and_grad_norm_seeds(runs, title):
    """Loss (top) and gradient norm (bottom) against epoch, log axes, one colour per seed:
    runs is [history per seed] (columns epoch, loss, grad_norm)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    palette = colors([f"seed {s + 1}" for s in range(len(runs))])
    for s, h in enumerate(runs):
        color = palette[f"seed {s + 1}"]
        top.plot(h.epoch, h.loss, color=color, label=f"seed {s + 1}")
        bottom.plot(h.epoch, h.grad_norm, color=color, linewidth=0.6, alpha=0.8)
    top.set(ylabel="loss (MSE)", yscale="log", title=title)
    bottom.set(xlabel="epoch", ylabel="gradient norm", yscale="log")
    top.legend(fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ notebook 05


def percent_annotations(part, grid, rows, columns, value):
    """accuracy_heatmaps' cell texts: `grid` in %, and "+- sd" below when `part` has `value`_sd."""
    annot = (grid * 100).map("{:.1f}".format)
    if f"{value}_sd" in part:
        sd = part.pivot_table(index=rows, columns=list(columns), values=f"{value}_sd") * 100
        annot = annot + "\n+- " + sd.reindex_like(grid).map("{:.1f}".format)
    return annot
