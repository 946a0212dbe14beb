"""Reporting: save figures and tables of a run, and `metrics.json` with the run's context.

Every file is written under a temporary name and renamed, so a reader never sees half a file.
"""
import io
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from labs_lib import PROJECT_ROOT, __version__
from labs_lib.files import atomic_write  # noqa: F401 - part of this module's API

FIGURE_FORMATS = ("png", "pdf")  # PNG for screens and the gallery, PDF (vector) for print


def reports_dir():
    """Where outputs land: $LABS_REPORTS_DIR, else reports/ at the project root."""
    return Path(os.environ.get("LABS_REPORTS_DIR") or PROJECT_ROOT / "reports")


def to_json(obj):
    """JSON text for results holding numpy scalars/arrays, paths and NaN (written as null)."""
    return json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n"


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def versions():
    """Versions of Python and the libraries a result depends on (those installed)."""
    found = {"python": platform.python_version(), "labs_lib": __version__}
    for dist in ("keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "numpy", "pandas", "matplotlib"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def device():
    """The machine and, under JAX or TensorFlow, the accelerator the backend computes on."""
    info = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax" and "jax" in sys.modules:
        dev = sys.modules["jax"].devices()[0]
        info["accelerator"] = f"{dev.platform}:{getattr(dev, 'device_kind', dev)}"
    elif backend == "tensorflow" and "tensorflow" in sys.modules:
        gpus = sys.modules["tensorflow"].config.list_physical_devices("GPU")
        info["accelerator"] = f"gpu:{gpus[0].name}" if gpus else "cpu"
    return info


class Report:
    """Collects a notebook run's figures, tables and values; `save()` writes metrics.json.

    out_dir: folder for the outputs; "" means reports/<notebook>/ at the project root.
    """

    def __init__(self, notebook, params, out_dir=""):
        self.notebook = notebook
        self.params = dict(params)
        self.out_dir = Path(out_dir) if out_dir else reports_dir() / notebook
        self.started = time.time()
        self.datasets = {}
        self.tables, self.figures, self.values = {}, [], {}
        register_latex_tables()

    def dataset(self, ds, used_for=""):
        """Record a dataset the run used (title, provenance, split sizes) and return it. used_for: which part
        of the notebook it serves, to tell apart two subsets of one dataset (a later one of the same title
        and purpose replaces the earlier record)."""
        record = {"name": ds.name, "title": ds.title, "synthetic": ds.synthetic, "source": ds.source, "sizes": ds.sizes()}
        self.datasets[ds.title, used_for] = {**record, "used_for": used_for} if used_for else record
        return ds

    @property
    def dataset_info(self):
        """The first dataset recorded (the notebook's main one), or None."""
        return next(iter(self.datasets.values()), None)

    def figure(self, fig, name, caption=""):
        """Save a matplotlib figure as figures/<name>.png and .pdf, show it with its numbered caption, close it.

        Synthetic runs are stamped as such. Returns None: the figure is shown once, by this call.
        """
        if any(d["synthetic"] for d in self.datasets.values()):
            fig.text(0.995, 0.005, "SYNTHETIC DATA: not real results", ha="right", va="bottom",
                     fontsize=8, color="firebrick", alpha=0.9)
        paths = []
        for fmt in FIGURE_FORMATS:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight")
            path = atomic_write(self.out_dir / "figures" / f"{name}.{fmt}", buffer.getvalue())
            paths.append(path.relative_to(self.out_dir).as_posix())
        self.figures = [f for f in self.figures if f["name"] != name]
        self.figures.append({"name": name, "caption": caption, "files": paths})
        show_figure(fig, name, caption, number=len(self.figures))

    def table(self, name, df, caption=""):
        """Record a pandas DataFrame as a table of metrics.json and return it for display (captioned in PDFs)."""
        self.tables[name] = {"caption": caption, "columns": [str(c) for c in df.columns],
                             "rows": df.reset_index(drop=df.index.name is None).to_dict("records")}
        df.attrs["caption"] = caption
        return df

    def headline(self, **values):
        """Record the run's headline numbers (label=value), shown in the gallery and on the PDF's first page."""
        self.values.setdefault("headline", {}).update(values)

    def record(self, **values):
        """Record named values (numbers quoted in the text, per-run details) in metrics.json."""
        self.values.update(values)

    def save(self):
        """Write metrics.json (tables, values, figures and the run's context) atomically."""
        metrics = {
            "notebook": self.notebook,
            "profile": self.params.get("profile", "custom"),
            "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "seed": self.params.get("seed"),
            "parameters": self.params,
            "dataset": self.dataset_info,
            "datasets": list(self.datasets.values()),
            "tables": self.tables,
            "values": self.values,
            "figures": self.figures,
            "versions": versions(),
            "device": device(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - self.started, 2),
        }
        return atomic_write(self.out_dir / "metrics.json", to_json(metrics))


def show_figure(fig, name, caption, number):
    """In a notebook kernel: display `fig` with its caption below it, then close it so it is not shown twice.

    The image output carries metadata {"labs": {"figure": name, "caption": caption}}, which the PDF template turns
    into a LaTeX figure with a numbered caption; the caption line (role "caption") is left out there.
    """
    from IPython import get_ipython
    if get_ipython() is None:
        return
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display
    display(fig, metadata={"labs": {"figure": name, "caption": caption}})
    if caption:
        display(Markdown(f"*Figure {number}. {caption}*"), metadata={"labs": {"role": "caption"}})
    plt.close(fig)


def latex_table(df):
    """A DataFrame as a booktabs LaTeX table, captioned with df.attrs["caption"]; long ones as a longtable."""
    show_index = not isinstance(df.index, pd.RangeIndex) or df.index.name is not None
    names = ["" if n is None else n for n in df.index.names]  # an unnamed index gets a blank header
    frame = df.reset_index(names=names, allow_duplicates=True) if show_index else df
    columns = "".join("r" if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) else "l"
                      for t in frame.dtypes)
    if frame.shape[1] > WIDE_TABLE_COLUMNS and len(frame) < frame.shape[1] / 2 and columns[0] == "l":
        frame = frame.set_index(frame.columns[0]).T.reset_index()  # few rows, many columns: one row per column
        frame.columns = ["", *frame.columns[1:]]
        columns = "l" + "r" * (frame.shape[1] - 1)
    header = " & ".join(latex_escape(column_label(c)) for c in frame.columns) + r" \\"
    rows = [" & ".join(latex_escape(format_cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    caption = latex_escape(df.attrs.get("caption", ""))
    if len(rows) > LONG_TABLE_ROWS:
        cap = rf"\caption{{{caption}}}\\" if caption else ""
        return "\n".join([r"{\footnotesize", rf"\begin{{longtable}}{{{columns}}}", cap, r"\toprule", header, r"\midrule",
                          r"\endhead", *rows, r"\bottomrule", r"\end{longtable}}"])
    cap = [rf"\caption{{{caption}}}"] if caption else []
    return "\n".join([r"\begin{table}[H]\centering\small", *cap, r"\begin{adjustbox}{max width=\linewidth}",
                      rf"\begin{{tabular}}{{{columns}}}", r"\toprule", header, r"\midrule", *rows, r"\bottomrule",
                      r"\end{tabular}", r"\end{adjustbox}", r"\end{table}"])


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
WIDE_TABLE_COLUMNS = 8  # wider tables with under half as many rows as columns are printed transposed
LONG_TABLE_ROWS = 40  # longer tables break across pages (longtable) instead of shrinking to fit one


def latex_escape(text):
    """Plain text made safe for LaTeX (its ten special characters escaped)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def column_label(column):
    """A column name as text; the levels of a MultiIndex column joined by spaces ("test_accuracy 0.01")."""
    if isinstance(column, tuple):
        return " ".join(str(level) for level in column if str(level))
    return str(column)


def format_cell(value):
    """A table cell as text: 4 significant digits, scientific notation for very small or large numbers."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def register_latex_tables():
    """Give DataFrames a text/latex form in this kernel (next to pandas' HTML), which nbconvert's PDF uses."""
    from IPython import get_ipython
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/latex"].for_type(pd.DataFrame, latex_or_none)


def latex_or_none(df):
    """latex_table for the display formatter: a table it cannot typeset warns and falls back to plain text in PDFs,
    never stopping the notebook."""
    try:
        return latex_table(df)
    except Exception as exc:  # noqa: BLE001 - a display form must not break the run
        import warnings
        warnings.warn(f"no LaTeX form for this table ({type(exc).__name__}: {exc}); PDFs show it as plain text")
        return None


def show_source(*functions):
    """Display the source code of labs_lib functions in the notebook (syntax-highlighted), to read them in place."""
    import inspect

    from IPython.display import Code, display
    display(Code("\n\n".join(inspect.getsource(f) for f in functions), language="python"))
