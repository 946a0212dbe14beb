"""Reporting: save figures and tables of a run, and `metrics.json` with the run's context.

Every file is written under a temporary name and renamed, so a reader never sees half a file.
"""

import io
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from labs_lib import PROJECT_ROOT, __version__
from labs_lib.shared.files import atomic_write, to_json
from labs_lib.shared.latex import register_latex_tables

REFERENCES_CAPTION = "This run against the references (notebooks/references.yaml)"
FIGURE_FORMATS = ("png", "pdf")  # PNG for screens and the gallery, PDF (vector) for print


def plural(n, word, many=None):
    """'1 seed', '3 seeds': n and the word, in the plural (word + "s", or `many`) unless n is 1."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def reports_dir():
    """Where outputs land: $LABS_REPORTS_DIR, else reports/ at the project root."""
    return Path(os.environ.get("LABS_REPORTS_DIR") or PROJECT_ROOT / "reports")


def versions():
    """Versions of Python and the libraries a result depends on (those installed)."""
    found = {"python": platform.python_version(), "labs_lib": __version__}
    for dist in (
        "keras",
        "tensorflow-cpu",
        "tensorflow",
        "jax",
        "jaxlib",
        "numpy",
        "pandas",
        "matplotlib",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


GPU_ENVIRONMENT = (  # what decides which GPUs a kernel sees and how much of their memory it takes
    "CUDA_VISIBLE_DEVICES",
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
    "TF_FORCE_GPU_ALLOW_GROWTH",
)


def device():
    """The machine and, under JAX or TensorFlow, the devices the backend computes on: accelerator
    (the first, as platform:kind), devices (all of them), gpu_environment (the variables set)."""
    info = {
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax" and "jax" in sys.modules:
        jax_devices = sys.modules["jax"].devices()
        found = [(d.platform, getattr(d, "device_kind", str(d))) for d in jax_devices]
    elif backend == "tensorflow" and "tensorflow" in sys.modules:
        found = tf_devices(sys.modules["tensorflow"])
    else:
        found = []
    if found:
        info["accelerator"] = ":".join(found[0])
        info["devices"] = [f"{kind}:{i} {name}" for i, (kind, name) in enumerate(found)]
    info["gpu_environment"] = {k: os.environ[k] for k in GPU_ENVIRONMENT if k in os.environ}
    return info


def tf_devices(tf):
    """[(platform, name)] of TensorFlow's GPUs, or [("cpu", "cpu")] without one."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return [("cpu", "cpu")]
    details = [tf.config.experimental.get_device_details(gpu) for gpu in gpus]
    return [("gpu", d.get("device_name", gpu.name)) for d, gpu in zip(details, gpus)]


class Report:
    """Collects a notebook run's figures, tables and values; `save()` writes metrics.json.

    out_dir: folder for the outputs; "" means reports/<notebook>/ at the project root.
    """

    def __init__(self, notebook, params, out_dir=""):
        self.notebook = notebook
        self.params = dict(params)
        self.out_dir = Path(out_dir) if out_dir else reports_dir() / notebook
        self.started = time.time()
        self.cuts, self.effects = {}, {}
        self.datasets = {}
        self.tables, self.figures, self.values = {}, [], {}
        register_latex_tables()

    @classmethod
    def start(cls, notebook, namespace):
        """A notebook's set-up, one call after its parameters cell: `Report.start(name, globals())`.

        Checks the parameter values (same message as the runner for a bad one), sets the figure
        theme and, for a notebook with a `tensorboard` parameter, where training writes TensorBoard
        logs (said if on).
        """
        from labs_lib import plots
        from labs_lib.shared.params import bind

        values = bind(notebook, namespace)
        report = cls(notebook, values, values.get("out_dir", ""))
        plots.set_theme()
        report.show_cuts()
        if "tensorboard" in values:
            from labs_lib import training

            on = values["tensorboard"]
            note = training.tensorboard_logs(report.out_dir / "tensorboard" if on else None)
            if on:
                print(note)
        return report

    def show_cuts(self):
        """Record and show, at the top of the run, every parameter whose value differs from the
        `full` profile (the course's specification): "epochs 8 (full 20)"."""
        from labs_lib.shared.params import cuts

        self.cuts = {
            name: {"value": value, "full": full}
            for name, (value, full) in cuts(self.notebook, self.params).items()
        }
        if self.cuts:
            shown = "; ".join(f"{n} {c['value']} (full {c['full']})" for n, c in self.cuts.items())
            profile = self.params.get("profile", "custom")
            changed = plural(len(self.cuts), "parameter")
            show_markdown(
                f"**Not the full experiment: profile `{profile}` changes {changed} of the course's "
                f"specification**: {shown}. Effects may be weaker or missing; each conclusion "
                "below says whether this run supports it."
            )

    def effect(self, name, shown, claim, why_not="", remedy=""):
        """Record whether this run shows the effect a conclusion needs; returns `shown`.

        When it does not, shows "not demonstrated in this run: <why_not>; try <remedy>" so that the
        notebook does not draw the conclusion from it.
        """
        self.effects[name] = {"shown": bool(shown), "claim": claim}
        if not shown:
            self.effects[name].update(why_not=why_not, remedy=remedy)
            show_markdown(
                f"**Not demonstrated in this run: {claim}.** {why_not}"
                + (f"; try {remedy}" if remedy else "")
                + "."
            )
        return bool(shown)

    @property
    def location(self):
        """Where the outputs end up, relative (e.g. reports/02_initialization): the runner's
        staging folder is named after the folder it is renamed to."""
        final = self.out_dir
        if final.name.startswith(f".staging-{self.notebook}-"):
            final = final.parent / self.notebook
        return f"{final.parent.name}/{final.name}"

    def load(self, name, *, synthetic=False, n_train=0, seed=0, **options):
        """The lab's dataset `name` (its synthetic stand-in if `synthetic`), recorded, summarized.

        n_train: training images, 0 = all; options: more arguments of data.load.
        """
        from labs_lib import data

        source = "synthetic" if synthetic else name
        ds = data.load(source, like=name, n_train=n_train or None, seed=seed, **options)
        print(ds.summary())
        return self.dataset(ds)

    def dataset(self, ds, used_for=""):
        """Record a dataset the run used (title, provenance, split sizes) and return it.

        used_for: which part of the notebook it serves, to tell apart two subsets of one dataset (a
        later one of the same title and purpose replaces the earlier record).
        """
        record = {
            "name": ds.name,
            "title": ds.title,
            "synthetic": ds.synthetic,
            "source": ds.source,
            "sizes": ds.sizes(),
        }
        self.datasets[ds.title, used_for] = {**record, "used_for": used_for} if used_for else record
        return ds

    @property
    def dataset_info(self):
        """The first dataset recorded (the notebook's main one), or None."""
        return next(iter(self.datasets.values()), None)

    def figure(self, fig, name, caption=""):
        """Save `fig` (figures/<name>.png and .pdf), show it with its numbered caption, close it.

        Synthetic runs are stamped as such. Returns None: the figure is shown once, by this call.
        """
        if any(d["synthetic"] for d in self.datasets.values()):
            fig.text(
                0.995,
                0.005,
                "SYNTHETIC DATA: not real results",
                ha="right",
                va="bottom",
                fontsize=8,
                color="firebrick",
                alpha=0.9,
            )
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
        """Record a DataFrame as a metrics.json table; return it for display (captioned in PDFs)."""
        self.tables[name] = {
            "caption": caption,
            "columns": [str(c) for c in df.columns],
            "rows": df.reset_index(drop=df.index.name is None).to_dict("records"),
        }
        df.attrs["caption"] = caption
        return df

    def headline(self, **values):
        """Record headline numbers (label=value): the gallery and the PDF's first page show them."""
        self.values.setdefault("headline", {}).update(values)

    def record(self, **values):
        """Record named values (numbers quoted in the text, per-run details) in metrics.json."""
        self.values.update(values)

    def compare_with_references(self, path=None):
        """Show this run's numbers beside notebooks/references.yaml's (a table and one observation
        each), record the checks' results; returns them (labs_lib.references.Result)."""
        from IPython.display import display

        from labs_lib import references

        metrics = self.metrics()
        results = references.check(metrics, path=path)
        self.values["references"] = {
            "summary": references.summary(results),
            "checks": [r.as_dict() for r in results],
        }
        if not references.shown(results, metrics["profile"]):
            show_markdown(f"No reference applies to the `{metrics['profile']}` profile.")
            return results
        display(self.table("references", references.table(results, metrics), REFERENCES_CAPTION))
        notes = references.observations(results, metrics)
        show_markdown(f"Checks: {references.summary(results)}.\n\n" + "\n".join(notes))
        return results

    def metrics(self):
        """The run so far as metrics.json holds it: tables, values, figures and the context."""
        return {
            "notebook": self.notebook,
            "profile": self.params.get("profile", "custom"),
            "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
            "seed": self.params.get("seed"),
            "parameters": {
                **self.params,
                **({"out_dir": self.location} if "out_dir" in self.params else {}),
            },
            "differs_from_full": self.cuts,
            "effects": self.effects,
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

    def save(self):
        """Write metrics.json (tables, values, figures and the run's context) atomically."""
        return atomic_write(self.out_dir / "metrics.json", to_json(self.metrics()))


def show_markdown(text):
    """Display Markdown in a notebook kernel; print it elsewhere."""
    from IPython import get_ipython

    if get_ipython() is None:
        print(text)
        return
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_figure(fig, name, caption, number):
    """In a notebook kernel: display `fig`, its caption below it, then close it (not shown twice).

    The image output carries metadata {"labs": {"figure": name, "caption": caption}}, which the PDF
    template turns into a LaTeX figure with a numbered caption; the caption line (role "caption")
    is left out there.
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


def show_source(*functions):
    """Display the source code of labs_lib functions in the notebook, syntax-highlighted."""
    import inspect

    from IPython.display import Code, display

    display(Code("\n\n".join(inspect.getsource(f) for f in functions), language="python"))
