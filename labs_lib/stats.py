"""Statistics for the conclusions a run can support: spread over seeds, an interval for an accuracy,
paired comparisons, rank correlations, and the sentence a comparison allows.

Built on scipy.stats. Intervals are 95 % unless `confidence` says otherwise; a winner is named only
when a difference is significant at `alpha` (5 %).
"""

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
    result = sps.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    point = None
    for i in range(len(x)):
        left = float(sps.spearmanr(np.delete(x, i), np.delete(y, i)).statistic)
        if not np.isfinite(left) or np.sign(left) != np.sign(rho):
            point = i
            break
    return {"n": len(x), "rho": rho, "p": p, "decided_by_one": point is not None, "point": point}


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
