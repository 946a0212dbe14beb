"""References: what a run's numbers can be held against (notebooks/references.yaml), and checks.

Each reference names one quantity of a notebook's metrics.json (a table cell, or a recorded value),
the range it must fall in, the profiles it applies to, and where the range comes from: an exact
invariant (any data, smoke included), a range measured over seeds on this pack's own runs, or a
published result (papers, the datasets' baselines), checked on `full` only.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

from labs_lib import PROJECT_ROOT

REFERENCES_FILE = PROJECT_ROOT / "notebooks" / "references.yaml"
KINDS = ("invariant", "measured", "published")
PROFILES = ("smoke", "quick", "full")
STATUSES = ("pass", "fail", "n/a")
IGNORED = {"seed", "seeds", "out_dir", "tensorboard", "profile"}  # never change a range's validity
REQUIRED = ("id", "what", "kind", "profiles", "expect", "source", "tolerance")
OPTIONAL = ("table", "where", "column", "value", "if_outside", "measured", "short_source")


class ReferenceError(ValueError):
    """references.yaml is malformed: the message names the entry and the field."""


@dataclass(frozen=True)
class Reference:
    """One reference value of a notebook: what is measured, where in metrics.json, which range."""

    notebook: str
    id: str
    what: str
    kind: str
    profiles: tuple
    low: float
    high: float
    source: str
    tolerance: str
    table: str = ""
    where: dict = field(default_factory=dict)
    column: str = ""
    value: str = ""  # dotted path into metrics.json's "values", instead of table/column
    if_outside: str = ""
    measured: dict = field(default_factory=dict)
    short_source: str = ""
    centred: bool = False  # given as {value, within}: shown as "value +- within"

    @property
    def name(self):
        return f"{self.notebook}/{self.id}"

    @property
    def expected(self):
        """The range as a reader writes it: '2.3026 +- 0.01', '0.93 to 0.96', '<= 1e-06'."""
        if math.isinf(self.low):
            return f"<= {self.high:.4g}"
        if math.isinf(self.high):
            return f">= {self.low:.4g}"
        if self.centred:
            mid, half = (self.low + self.high) / 2, (self.high - self.low) / 2
            return f"{mid:.6g} +- {half:.2g}"
        if self.low == self.high:
            return f"{self.low:g}"
        digits = next(d for d in range(4, 17) if f"{self.low:.{d}g}" != f"{self.high:.{d}g}")
        return f"{self.low:.{digits}g} to {self.high:.{digits}g}"

    @property
    def location(self):
        """Where the quantity is read: 'final_losses[initializer=zeros].train_loss'."""
        if self.value:
            return f"values.{self.value}"
        rows = ",".join(f"{k}={v}" for k, v in self.where.items())
        return f"{self.table}[{rows}].{self.column}" if rows else f"{self.table}.{self.column}"

    @property
    def cite(self):
        """The source as a table cell shows it."""
        if self.short_source:
            return self.short_source
        if self.kind == "measured" and self.measured:
            m = self.measured
            return f"this pack's quick runs, {m.get('date')}, {m.get('backend')}"
        return self.source

    def applies_to(self, profile):
        return profile in self.profiles


def load(path=None):
    """Every reference in `path` (default: notebooks/references.yaml), by notebook, checked."""
    import yaml

    path = Path(path or REFERENCES_FILE)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReferenceError(f"cannot read the references file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ReferenceError(f"{path}: expected a mapping of notebook -> list of references")
    found = {}
    for notebook, entries in data.items():
        if not isinstance(entries, list):
            raise ReferenceError(f"{path}: {notebook} must hold a list of references")
        found[notebook] = [parse(notebook, entry, path) for entry in entries]
        ids = [r.id for r in found[notebook]]
        if len(set(ids)) != len(ids):
            raise ReferenceError(f"{path}: {notebook} repeats a reference id: {sorted(ids)}")
    return found


def for_notebook(notebook, path=None):
    """The references of one notebook (an empty list if it has none)."""
    return load(path).get(notebook, [])


def parse(notebook, entry, path):
    """A Reference from one YAML entry; ReferenceError naming the entry and field if malformed."""
    where = f"{path}: {notebook}, entry {entry.get('id', '?') if isinstance(entry, dict) else '?'}"
    if not isinstance(entry, dict):
        raise ReferenceError(f"{where}: expected a mapping, got {entry!r}")
    missing = [k for k in REQUIRED if k not in entry]
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ReferenceError(
            f"{where}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'} "
            f"(allowed: {', '.join(REQUIRED + OPTIONAL)})"
        )
    if entry["kind"] not in KINDS:
        raise ReferenceError(f"{where}: kind {entry['kind']!r} is not one of {', '.join(KINDS)}")
    profiles = tuple(entry["profiles"])
    if not profiles or set(profiles) - set(PROFILES):
        raise ReferenceError(f"{where}: profiles {list(profiles)} must be some of {PROFILES}")
    if bool(entry.get("value")) == bool(entry.get("table") and entry.get("column")):
        raise ReferenceError(f"{where}: give either `value` or both `table` and `column`")
    low, high = bounds(entry["expect"], where)
    fields = {k: entry[k] for k in OPTIONAL if k in entry}
    return Reference(
        notebook=notebook,
        id=entry["id"],
        what=entry["what"],
        kind=entry["kind"],
        profiles=profiles,
        low=low,
        high=high,
        source=entry["source"],
        tolerance=entry["tolerance"],
        centred="value" in entry["expect"],
        **fields,
    )


def bounds(expect, where):
    """(low, high) from {low, high} (either may be left out) or {value, within}."""
    if not isinstance(expect, dict) or not expect:
        raise ReferenceError(f"{where}: expect must be {{low, high}} or {{value, within}}")
    if set(expect) <= {"low", "high"}:
        low, high = expect.get("low", -math.inf), expect.get("high", math.inf)
    elif set(expect) == {"value", "within"}:
        low, high = expect["value"] - expect["within"], expect["value"] + expect["within"]
    else:
        raise ReferenceError(f"{where}: expect {expect} must be {{low, high}} or {{value, within}}")
    if not low <= high:
        raise ReferenceError(f"{where}: expect {expect} has low > high")
    return float(low), float(high)


@dataclass
class Result:
    """The outcome of one reference on one run: pass, fail or n/a, what was read, and why."""

    reference: Reference
    status: str
    got: str
    message: str

    def as_dict(self):
        ref = self.reference
        return {
            "notebook": ref.notebook,
            "check": ref.id,
            "what": ref.what,
            "kind": ref.kind,
            "location": ref.location,
            "expected": ref.expected,
            "got": self.got,
            "status": self.status,
            "message": self.message,
            "source": ref.source,
        }


def read(ref, metrics):
    """The values the reference names in `metrics` (a list: one per matching row), or a
    LookupError that says what is missing."""
    if ref.value:
        node = metrics.get("values", {})
        for key in ref.value.split("."):
            if not isinstance(node, dict) or key not in node:
                raise LookupError(f"values.{ref.value} is not in metrics.json")
            node = node[key]
        return [node]
    tables = metrics.get("tables", {})
    if ref.table not in tables:
        raise LookupError(
            f"table {ref.table!r} is not in metrics.json (tables: {', '.join(tables) or 'none'})"
        )
    rows = [r for r in tables[ref.table]["rows"] if matches(r, ref.where)]
    if not rows:
        raise LookupError(f"no row of {ref.table} has {ref.where}")
    if any(ref.column not in r for r in rows):
        raise LookupError(f"column {ref.column!r} is not in table {ref.table}")
    return [r[ref.column] for r in rows]


def matches(row, where):
    """Whether `row` has every (column, value) of `where` (numbers compared as numbers)."""
    for key, want in where.items():
        got = row.get(key)
        if isinstance(want, (int, float)) and isinstance(got, (int, float)):
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif str(got) != str(want):
            return False
    return True


def evaluate(ref, metrics, overridden=()):
    """Check one reference against a run's metrics (a metrics.json dict).

    overridden: parameters the run set away from its profile's values (see `overridden`); measured
    and published ranges do not apply to such a run.
    """
    profile = metrics.get("profile", "custom")
    try:
        numbers = [number(v) for v in read(ref, metrics)]
    except LookupError as exc:
        numbers, missing = None, f"{ref.name}: {exc}"
    got = "missing" if numbers is None else ", ".join(fmt(v) for v in numbers)
    if not ref.applies_to(profile):
        why = f"applies to {', '.join(ref.profiles)}; this run is {profile}"
        return Result(ref, "n/a", got, why)
    measured_on = str(ref.measured.get("backend", "")).split("/")
    if ref.kind == "measured" and ref.measured and metrics.get("backend") not in measured_on:
        why = f"measured on {'/'.join(measured_on)}; this run is {metrics.get('backend')}"
        return Result(ref, "n/a", got, why)
    if overridden and ref.kind != "invariant":
        why = f"holds for the {profile} profile's values; this run sets {', '.join(overridden)}"
        return Result(ref, "n/a", got, why)
    if numbers is None and overridden:  # e.g. an initializer or technique left out of the run
        why = f"{missing}; this run sets {', '.join(overridden)}, which can leave it out"
        return Result(ref, "n/a", got, why)
    if numbers is None:
        return Result(ref, "fail", got, missing)
    bad = [v for v in numbers if not (ref.low <= v <= ref.high)]  # NaN is never in range
    if not bad:
        return Result(ref, "pass", got, f"{ref.name}: {got} within {ref.expected}")
    return Result(
        ref,
        "fail",
        got,
        f"{ref.name} ({ref.what}): expected {ref.expected}, got {', '.join(fmt(v) for v in bad)}"
        f" at {ref.location}",
    )


def number(value):
    """A float from a metrics.json cell: null (NaN written by to_json) and non-numbers are NaN."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt(x):
    return "NaN" if math.isnan(x) else f"{x:.6g}"


def check(metrics, references=None, path=None):
    """Every reference of the run's notebook, evaluated on `metrics`: a list of Result."""
    refs = for_notebook(metrics["notebook"], path) if references is None else references
    changed = overridden(metrics, Path(path or REFERENCES_FILE).parent / "profiles")
    return [evaluate(ref, metrics, changed) for ref in refs]


def overridden(metrics, profiles_dir):
    """Parameters whose value in the run differs from its profile's (seeds and paths aside)."""
    import yaml

    profile = metrics.get("profile", "custom")
    path = Path(profiles_dir) / f"{profile}.yaml"
    if profile not in PROFILES or not path.exists():
        return []
    listed = (yaml.safe_load(path.read_text()) or {}).get(metrics["notebook"]) or {}
    params = metrics.get("parameters", {})
    names = set(metrics.get("differs_from_full", {})) | set(listed)
    changed = [
        n
        for n in sorted(names - IGNORED)
        if n in params and (n not in listed or not same(params[n], listed[n]))
    ]
    return changed


def same(a, b):
    """Equal parameter values, numbers compared as numbers (1 == 1.0, lists item by item)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12)
    return a == b


def summary(results):
    """'5 pass, 1 fail, 3 n/a' (counts of each status present), or 'no checks'."""
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return text or "no checks"


def shown(results, profile):
    """The results a reader of this run should see: those checked, plus the published values
    beside a real-data run's numbers (they are checked on `full` only)."""
    return [
        r
        for r in results
        if r.status != "n/a"
        or (r.reference.kind == "published" and r.got != "missing" and profile != "smoke")
    ]


def table(results, metrics):
    """A DataFrame for the notebook: each quantity, this run's value, the reference, its source."""
    import pandas as pd

    profile = metrics.get("profile", "custom")
    rows = [
        {
            "quantity": r.reference.what,
            "this run": r.got,
            "reference": r.reference.expected,
            "source": r.reference.cite,
            "verdict": r.status if r.status != "n/a" else f"not checked on {profile}",
        }
        for r in shown(results, profile)
    ]
    columns = ["quantity", "this run", "reference", "source", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def observations(results, metrics):
    """One Markdown bullet per reference shown: where the run agrees, where not and why."""
    notes = []
    for r in shown(results, metrics.get("profile", "custom")):
        ref = r.reference
        head = f"- **{ref.what}**: this run {r.got}; {ref.kind} {ref.expected} ({ref.cite})"
        if r.status == "pass":
            notes.append(f"{head}: agrees.")
        elif r.status == "fail":
            notes.append(f"{head}: **does not agree**. Likely: {ref.if_outside or r.message}")
        else:
            notes.append(f"{head}: {position(r)}; not checked, {unlike_source(metrics)}.")
    return notes


def position(result):
    """'within the range', 'below it' or 'above it' for a result's values."""
    ref, values = result.reference, [float(v) for v in result.got.split(", ")]
    if all(ref.low <= v <= ref.high for v in values):
        return "within the range"
    return (
        "below it" if max(values) < ref.low else "above it" if min(values) > ref.high else "partly"
    )


def unlike_source(metrics):
    """Why a published value is not held against this run: how it differs from the full set-up."""
    cuts = {n: c for n, c in (metrics.get("differs_from_full") or {}).items() if n not in IGNORED}
    if not cuts:
        return "as this run's parameters are not the profile's"
    shown_cuts = ", ".join(
        f"{n} {c['value']} (full {c['full']})" for n, c in list(cuts.items())[:4]
    )
    more = f" and {len(cuts) - 4} more" if len(cuts) > 4 else ""
    return (
        f"because this run differs from the full set-up ({shown_cuts}{more}), and the published "
        "value is for that set-up or a larger one"
    )
