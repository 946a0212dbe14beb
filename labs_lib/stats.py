"""Statistics for the conclusions a run can support: spread over seeds, an interval for an accuracy,
paired comparisons, rank correlations, and the sentence a comparison allows.

Built on scipy.stats. Intervals are 95 % unless `confidence` says otherwise; a winner is named only
when a difference is significant at `alpha` (5 %).
"""

import itertools
import math

import numpy as np
from scipy import stats as sps

ALPHA = 0.05


def _values(values, name="values"):
    """A 1-D float array of finite values, refused with a clear message otherwise."""
    array = np.asarray(values, dtype="float64").ravel()
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a non-empty list of finite numbers, got {list(array)}")
    return array


def summary(values, confidence=0.95):
    """{"n", "mean", "sd", "low", "high"} of values over seeds: sample sd, t interval of the mean
    (sd, low and high are NaN for a single value)."""
    x = _values(values)
    n, mean = len(x), float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "sd": math.nan, "low": math.nan, "high": math.nan}
    sd = float(x.std(ddof=1))
    if sd == 0:
        return {"n": n, "mean": mean, "sd": 0.0, "low": mean, "high": mean}
    low, high = sps.t.interval(confidence, df=n - 1, loc=mean, scale=sd / math.sqrt(n))
    return {"n": n, "mean": mean, "sd": sd, "low": float(low), "high": float(high)}


def wilson_interval(correct, n, confidence=0.95):
    """(low, high): the Wilson interval of an accuracy, `correct` hits out of `n` test examples."""
    if not (int(n) == n and n >= 1 and int(correct) == correct and 0 <= correct <= n):
        raise ValueError(
            f"need whole numbers 0 <= correct <= n and n >= 1, got {correct!r} of {n!r}"
        )
    ci = sps.binomtest(int(correct), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def paired_comparison(a, b, confidence=0.95):
    """a - b over the same seeds: {"n", "difference" (mean), "sd", "low", "high", "p" (paired
    t-test), "significant" (p < ALPHA)}; one nonzero difference on every seed is significant."""
    a, b = _values(a, "a"), _values(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a and b must hold one value per seed each, got {len(a)} and {len(b)}")
    spread = summary(a - b, confidence)
    if spread["n"] < 2:
        p = math.nan
    elif spread["sd"] == 0:
        p = 1.0 if spread["mean"] == 0 else 0.0
    else:
        p = float(sps.ttest_rel(a, b).pvalue)
    result = {"n": spread["n"], "difference": spread["mean"], "sd": spread["sd"]}
    return {
        **result,
        "low": spread["low"],
        "high": spread["high"],
        "p": p,
        "significant": p < ALPHA,
    }


def rank_correlation(x, y):
    """Spearman's rho of paired values: {"n", "rho", "p", "decided_by_one", "point"}.

    decided_by_one: leaving out one point (its index: "point") flips the sign of rho or makes it 0.
    """
    x, y = _values(x, "x"), _values(y, "y")
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"x and y must be paired, at least 3 each, got {len(x)} and {len(y)}")
    rho = float(sps.spearmanr(x, y).statistic)
    p = spearman_p(x, y, rho)
    point = None
    for i in range(len(x)):
        left = float(sps.spearmanr(np.delete(x, i), np.delete(y, i)).statistic)
        if not np.isfinite(left) or np.sign(left) != np.sign(rho):
            point = i
            break
    return {"n": len(x), "rho": rho, "p": p, "decided_by_one": point is not None, "point": point}


EXACT_UP_TO = 8  # points up to which Spearman's p comes from every pairing (8! = 40 320)


def spearman_p(x, y, rho):
    """Two-sided p of Spearman's rho: exact (the share of all pairings of x and y whose |rho| is at
    least as large) up to EXACT_UP_TO points, scipy's t approximation beyond, never below 2 / n!."""
    n = len(x)
    if not np.isfinite(rho):
        return 1.0
    if n > EXACT_UP_TO:
        return max(float(sps.spearmanr(x, y).pvalue), 2 / math.factorial(n))
    rx, ry = sps.rankdata(x), sps.rankdata(y)
    rx, shuffled = rx - rx.mean(), ry[np.array(list(itertools.permutations(range(n))))]
    shuffled = shuffled - shuffled.mean(axis=1, keepdims=True)
    rhos = shuffled @ rx / (np.linalg.norm(shuffled, axis=1) * np.linalg.norm(rx))
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def comparison_sentence(name_a, a, name_b, b, *, metric, higher_is_better=True, fmt="{:.3g}"):
    """One sentence on two configurations' values over the same seeds: a winner only when the paired
    difference is significant at 5 %, else "no difference beyond seed noise (difference x +- y)"."""
    result = paired_comparison(a, b)
    n = result["n"]
    if n < 2:
        return (
            f"{name_a} vs {name_b}: one seed only, so no difference in {metric} can be claimed "
            "(run with seeds >= 2)"
        )
    half = (result["high"] - result["low"]) / 2
    difference = f"difference {fmt.format(result['difference'])} +- {fmt.format(half)}"
    if not result["significant"]:
        return (
            f"{name_a} vs {name_b}: no difference in {metric} beyond seed noise "
            f"({difference}, 95 % interval over {n} seeds)"
        )
    a_wins = (result["difference"] > 0) == higher_is_better
    winner, loser = (name_a, name_b) if a_wins else (name_b, name_a)
    means = {name_a: np.mean(a), name_b: np.mean(b)}
    better = "higher" if higher_is_better else "lower"
    return (
        f"{winner} has the {better} {metric}: {fmt.format(means[winner])} against "
        f"{fmt.format(means[loser])} ({difference}, 95 % interval over {n} seeds; "
        f"paired t-test p = {result['p']:.2g})"
    )


def over_seeds(rows, by, columns):
    """One row per value of `by` (first-seen order) from a DataFrame of one row per run and seed:
    seeds (how many), then each column's mean (same name) and sample sd (column + "_sd")."""
    import pandas as pd

    out = []
    for key, group in rows.groupby(by, sort=False):
        row = {by: key, "seeds": len(group)}
        for column in columns:
            values = group[column].to_numpy(dtype="float64")
            finite = values[np.isfinite(values)]
            row[column] = float(finite.mean()) if len(finite) == len(values) else math.nan
            row[f"{column}_sd"] = float(values.std(ddof=1)) if len(finite) > 1 else math.nan
        out.append(row)
    return pd.DataFrame(out)


def spread(mean, sd, fmt="{:.3g}"):
    """'0.942 +- 0.003' (mean +- sd over seeds), or the mean alone when sd is NaN (one seed)."""
    if not np.isfinite(sd):
        return fmt.format(mean)
    return f"{fmt.format(mean)} +- {fmt.format(sd)}"


def best(values, *, metric, higher_is_better=True, fmt="{:.3g}"):
    """The configuration with the best mean over seeds, and those it does not beat beyond noise.

    values: {name: [value per seed]}, the same seeds for every name (paired). Returns {"best",
    "tied" (names whose paired difference to the best is not significant at 5 %), "label" (for a
    headline), "sentence"}.
    """
    means = {name: float(np.mean(_values(v, name))) for name, v in values.items()}
    pick = max if higher_is_better else min
    top = pick(means, key=means.get)
    n = len(values[top])
    tied = [
        name
        for name in values
        if name != top
        and (n < 2 or not paired_comparison(values[top], values[name])["significant"])
    ]
    word = "highest" if higher_is_better else "lowest"
    label = f"{top} {fmt.format(means[top])}" + (f" (tied: {', '.join(tied)})" if tied else "")
    if n < 2:
        sentence = f"one seed only, so no configuration can be called best in {metric}"
    elif not tied:
        sentence = (
            f"{top} has the {word} {metric} ({fmt.format(means[top])}), beyond seed noise against "
            f"every other configuration (paired t-tests over {n} seeds, p < 0.05)"
        )
    else:
        sentence = (
            f"{top} has the {word} mean {metric} ({fmt.format(means[top])}), but not beyond seed "
            f"noise against {', '.join(tied)} (paired t-tests over {n} seeds): no single best"
        )
    return {"best": top, "tied": tied, "label": label, "sentence": sentence}


def trend(x, values, *, metric, along):
    """Whether `metric` rises or falls with `along` (e.g. penalty strength), over all seeds: a
    sentence from Spearman's rho of (x, value) pairs with n and p, and the leave-one-out check.

    x: one setting per configuration; values: [[value per seed] per configuration].
    """
    xs = np.concatenate([[xi] * len(v) for xi, v in zip(x, values)])
    ys = np.concatenate([_values(v) for v in values])
    if len(set(xs)) < 2 or len(xs) < 3:
        return f"{metric}: too few settings of {along} for a trend"
    r = rank_correlation(xs, ys)
    numbers = f"Spearman rho {r['rho']:+.2f}, n = {r['n']} runs, p = {r['p']:.2g}"
    if not (r["p"] < ALPHA) or not np.isfinite(r["rho"]):
        return f"{metric} shows no monotonic trend with {along} beyond seed noise ({numbers})"
    if r["decided_by_one"]:
        return f"{metric} has no robust trend with {along}: one run decides its sign ({numbers})"
    direction = "rises" if r["rho"] > 0 else "falls"
    return f"{metric} {direction} with {along} ({numbers})"


def shown_with_spread(table, columns, fmt="{:.4f}"):
    """A copy of an over_seeds table for reading: each column as "mean +- sd", its _sd dropped."""
    shown = table.drop(columns=[f"{c}_sd" for c in columns if f"{c}_sd" in table])
    for column in columns:
        shown[column] = [spread(m, s, fmt) for m, s in zip(table[column], table[f"{column}_sd"])]
    return shown
