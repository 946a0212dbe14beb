"""labs_lib.stats against known cases: intervals, paired comparisons, rank correlations."""

import math

import pytest
from scipy import stats as sps

from labs_lib import stats


def test_summary_gives_mean_sample_sd_and_the_t_interval():
    s = stats.summary([1.0, 2.0, 3.0])
    assert s["n"] == 3 and s["mean"] == 2.0 and s["sd"] == pytest.approx(1.0)
    # mean +- t(0.975, 2) * sd / sqrt(3) = 2 +- 4.3027 * 0.57735
    assert (s["low"], s["high"]) == pytest.approx((-0.48414, 4.48414), abs=1e-5)


def test_summary_of_one_seed_has_no_spread_and_of_equal_values_no_width():
    one = stats.summary([0.9])
    assert one["mean"] == 0.9 and all(math.isnan(one[k]) for k in ("sd", "low", "high"))
    same = stats.summary([0.5, 0.5, 0.5])
    assert (same["sd"], same["low"], same["high"]) == (0.0, 0.5, 0.5)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_summary_refuses_empty_or_non_finite_values(bad):
    with pytest.raises(ValueError, match="values must be a non-empty list of finite numbers"):
        stats.summary(bad)


def test_wilson_interval_of_an_accuracy_on_1000_test_images():
    """The style guide's example: ReLU 38.1 % on 1 000 images, 95 % CI 35.1-41.2 %."""
    low, high = stats.wilson_interval(381, 1000)
    assert (round(low, 3), round(high, 3)) == (0.351, 0.412)


def test_wilson_interval_stays_inside_0_and_1_at_the_edges():
    low, high = stats.wilson_interval(0, 20)
    assert low == 0 and 0.1 < high < 0.2  # Wilson: (0, 0.161)
    low, high = stats.wilson_interval(20, 20)
    assert high == pytest.approx(1) and 0.8 < low < 0.9


@pytest.mark.parametrize("correct, n", [(5, 4), (-1, 10), (3, 0), (2.5, 10)])
def test_wilson_interval_refuses_impossible_counts(correct, n):
    with pytest.raises(ValueError, match="need whole numbers 0 <= correct <= n"):
        stats.wilson_interval(correct, n)


def test_paired_comparison_matches_the_paired_t_test():
    a, b = [0.91, 0.92, 0.93, 0.94], [0.90, 0.905, 0.915, 0.925]
    result = stats.paired_comparison(a, b)
    # d = 0.01, 0.015, 0.015, 0.015: mean 0.01375, sd 0.0025, t = 0.01375 / 0.00125 = 11, 3 df
    assert result["difference"] == pytest.approx(0.01375) and result["sd"] == pytest.approx(0.0025)
    assert result["p"] == pytest.approx(0.0016089, rel=1e-3)
    assert result["significant"] and result["low"] > 0


def test_paired_comparison_inside_the_noise_is_not_significant():
    result = stats.paired_comparison([0.90, 0.93, 0.91], [0.92, 0.90, 0.915])
    assert not result["significant"] and result["low"] < 0 < result["high"]


def test_paired_comparison_of_identical_differences_and_of_one_seed():
    assert stats.paired_comparison([2.0, 3.0], [1.0, 2.0])["significant"]  # +1 on every seed
    assert not stats.paired_comparison([1.0, 2.0], [1.0, 2.0])["significant"]
    one = stats.paired_comparison([0.9], [0.8])
    assert math.isnan(one["p"]) and not one["significant"]


def test_paired_comparison_needs_one_value_per_seed_on_each_side():
    with pytest.raises(ValueError, match="one value per seed each, got 3 and 2"):
        stats.paired_comparison([1, 2, 3], [1, 2])


def test_rank_correlation_of_a_monotone_relation_is_not_decided_by_one_point():
    r = stats.rank_correlation(range(8), [10, 9, 7, 6, 5, 3, 2, 1])
    assert r["n"] == 8 and r["rho"] == pytest.approx(-1) and r["p"] < 0.001
    assert not r["decided_by_one"] and r["point"] is None


def test_rank_correlation_says_when_one_point_decides_the_sign():
    # rho = 1 - 6 * 22 / 120 = -0.1; without the first point the rest rank 1, 2, 4, 3: rho = +0.8
    r = stats.rank_correlation([1, 2, 3, 4, 5], [5, 1, 2, 4, 3])
    assert r["rho"] == pytest.approx(-0.1)
    assert r["decided_by_one"] and r["point"] == 0


def test_rank_correlation_needs_three_paired_points():
    with pytest.raises(ValueError, match="at least 3 each, got 2 and 2"):
        stats.rank_correlation([1, 2], [2, 1])


def test_a_sentence_names_a_winner_only_when_the_difference_is_significant():
    win = stats.comparison_sentence(
        "relu",
        [0.91, 0.92, 0.93, 0.94],
        "sigmoid",
        [0.90, 0.905, 0.915, 0.925],
        metric="test accuracy",
        fmt="{:.1%}",
    )
    assert win.startswith("relu has the higher test accuracy: 92.5% against 91.1%")
    assert "over 4 seeds" in win and "p = 0.0016" in win
    tie = stats.comparison_sentence(
        "relu",
        [0.90, 0.93, 0.91],
        "sigmoid",
        [0.92, 0.90, 0.915],
        metric="test accuracy",
        fmt="{:.1%}",
    )
    assert "no difference in test accuracy beyond seed noise (difference 0.2% +- " in tie
    assert "has the" not in tie


def test_a_sentence_about_a_loss_prefers_the_lower_value():
    text = stats.comparison_sentence(
        "he",
        [0.30, 0.31, 0.29],
        "zeros",
        [2.30, 2.35, 2.20],
        metric="validation loss",
        higher_is_better=False,
    )
    assert text.startswith("he has the lower validation loss: 0.3 against 2.28 (difference -1.98")


def test_a_sentence_from_one_seed_claims_nothing():
    text = stats.comparison_sentence("a", [0.9], "b", [0.8], metric="accuracy")
    assert "one seed only" in text and "seeds >= 2" in text


def test_best_names_a_winner_only_when_it_beats_every_other_beyond_the_noise():
    clear = stats.best(
        {"a": [0.90, 0.91, 0.92], "b": [0.80, 0.815, 0.82], "c": [0.70, 0.71, 0.725]},
        metric="accuracy",
    )
    assert clear["best"] == "a" and clear["tied"] == []
    assert "beyond seed noise against every other" in clear["sentence"]
    close = stats.best({"a": [0.90, 0.93, 0.91], "b": [0.91, 0.90, 0.92]}, metric="accuracy")
    assert close["best"] == "a" and close["tied"] == ["b"] and "no single best" in close["sentence"]
    lower = stats.best(
        {"a": [1.0, 1.1, 1.2], "b": [2.0, 2.2, 2.1]}, metric="loss", higher_is_better=False
    )
    assert lower["best"] == "a" and "lowest" in lower["sentence"]
    assert "one seed only" in stats.best({"a": [1.0], "b": [2.0]}, metric="loss")["sentence"]


def test_trend_reports_a_monotone_rise_and_refuses_noise():
    rising = stats.trend(
        [1, 2, 3, 4],
        [[1.0, 1.1], [2.0, 2.1], [3.0, 3.2], [4.0, 4.1]],
        metric="the gap",
        along="strength",
    )
    assert rising.startswith("the gap rises with strength") and "n = 8" in rising
    flat = stats.trend(
        [1, 2, 3], [[1.0, 3.0], [2.0, 2.5], [3.0, 1.0]], metric="the gap", along="strength"
    )
    assert "no monotonic trend" in flat


def test_over_seeds_gives_the_mean_and_sample_sd_per_configuration():
    import pandas as pd

    rows = pd.DataFrame({"run": ["a", "a", "b", "b"], "x": [1.0, 3.0, 2.0, 2.0]})
    table = stats.over_seeds(rows, "run", ["x"])
    assert list(table.run) == ["a", "b"] and list(table.seeds) == [2, 2]
    assert list(table.x) == [2.0, 2.0] and table.x_sd[0] == pytest.approx(math.sqrt(2))
    assert stats.shown_with_spread(table, ["x"], "{:.2f}").x[0] == "2.00 +- 1.41"
    assert stats.spread(0.5, math.nan) == "0.5"


def test_rank_correlation_p_is_exact_for_few_points():
    # 4 points in the same order: 2 of the 24 pairings reach |rho| = 1, so p = 1/12, not 0
    assert stats.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40])["p"] == pytest.approx(1 / 12)
    x, y = [0.1, 0.5, 0.2, 0.9, 0.7, 0.3], [1, 3, 2, 6, 4, 5]
    reference = sps.permutation_test(
        (y,), lambda yy: sps.spearmanr(x, yy).statistic, permutation_type="pairings"
    ).pvalue
    assert stats.rank_correlation(x, y)["p"] == pytest.approx(reference)


def test_rank_correlation_p_is_never_zero():
    assert stats.rank_correlation(range(12), range(12))["p"] == pytest.approx(
        2 / math.factorial(12)
    )
