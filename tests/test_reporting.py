"""labs_lib.reporting and labs_lib.shared.files: atomic writes, JSON of numpy results, metrics.json
and figure files."""

import json
import math
import os
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from labs_lib import reporting  # noqa: E402
from labs_lib.reporting import Report  # noqa: E402
from labs_lib.shared import files  # noqa: E402
from labs_lib.shared.files import atomic_write, current_umask, to_json  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def strict_loads(text):
    """json.loads that refuses NaN/Infinity, as other JSON readers do."""

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def leftovers(folder):
    """Temporary files left in `folder` (atomic_write's and Report.figure's are hidden
    dot-files)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


class FakeDataset:
    """The attributes Report.dataset reads."""

    def __init__(self, synthetic):
        self.name = "moons" if synthetic else "mnist"
        self.title = "Two moons (generated)" if synthetic else "MNIST digits"
        self.synthetic = synthetic
        self.source = "generated with numpy" if synthetic else "yann.lecun.com"

    def sizes(self):
        return {"train": 80, "test": 20}


@pytest.fixture
def fig():
    figure, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("a test figure")
    yield figure
    plt.close(figure)


# ---------------------------------------------------------------- atomic_write


def test_atomic_write_writes_text_and_bytes_and_leaves_no_temp_file(tmp_path):
    assert atomic_write(tmp_path / "a.txt", "héllo\n") == tmp_path / "a.txt"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write(tmp_path / "b.bin", b"\x00\x01\x02")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\x02"
    atomic_write(tmp_path / "a.txt", "replaced")
    assert (tmp_path / "a.txt").read_text() == "replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_atomic_write_creates_missing_parent_folders(tmp_path):
    target = tmp_path / "deep" / "er" / "metrics.json"
    atomic_write(target, "{}")
    assert target.read_text() == "{}"
    assert leftovers(target.parent) == []


def test_atomic_write_keeps_the_old_file_and_removes_the_temp_file_when_rename_fails(
    tmp_path, monkeypatch
):
    target = tmp_path / "metrics.json"
    target.write_text("old contents")

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        atomic_write(target, "new contents")
    assert target.read_text() == "old contents"
    assert leftovers(tmp_path) == []


def test_atomic_write_never_leaves_a_partial_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old contents")
    fresh = tmp_path / "fresh.json"
    real_fdopen = os.fdopen

    class HalfWriter:
        """A file whose write stores half the data, then fails (a full disk)."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError("No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()
            return False

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, "new contents that will not fit")
    with pytest.raises(OSError, match="No space left"):
        atomic_write(fresh, "never written")
    assert target.read_text() == "old contents"
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_atomic_write_removes_the_temp_file_when_data_is_not_writable(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x.json", 12345)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- to_json


def test_to_json_converts_numpy_scalars_and_arrays():
    data = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "u": np.uint8(255),
        "a": np.arange(6).reshape(2, 3),
        "fa": np.array([0.25, 0.5], dtype=np.float32),
        "nested": [{"x": np.float64(1.5)}, (np.int32(1), np.int32(2))],
    }
    back = strict_loads(to_json(data))
    assert back == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "u": 255,
        "a": [[0, 1, 2], [3, 4, 5]],
        "fa": [0.25, 0.5],
        "nested": [{"x": 1.5}, [1, 2]],
    }
    assert type(back["i"]) is int and type(back["b"]) is bool


def test_to_json_writes_nan_as_null_and_inf_as_text():
    data = {
        "nan": math.nan,
        "np_nan": np.float64("nan"),
        "inf": math.inf,
        "ninf": -math.inf,
        "f32_inf": np.float32("inf"),
        "arr": np.array([1.0, np.nan, np.inf, -np.inf]),
    }
    text = to_json(data)
    assert "NaN" not in text and "Infinity" not in text
    assert strict_loads(text) == {
        "nan": None,
        "np_nan": None,
        "inf": "inf",
        "ninf": "-inf",
        "f32_inf": "inf",
        "arr": [1.0, None, "inf", "-inf"],
    }


def test_to_json_converts_paths_and_non_string_keys():
    back = strict_loads(to_json({1: Path("/tmp/x"), np.int64(2): "two", "s": "plain"}))
    assert back == {"1": "/tmp/x", "2": "two", "s": "plain"}


def test_to_json_is_indented_and_ends_with_a_newline():
    text = to_json({"a": [1, 2]})
    assert text.endswith("}\n") and "\n  " in text


# ---------------------------------------------------------------- Report


def test_report_save_writes_metrics_json_with_results_and_context(tmp_path, fig, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    params = {"profile": "smoke", "seed": 7, "epochs": 2, "widths": [4, 8]}
    report = Report("02_demo", params, out_dir=tmp_path)
    report.table(
        "scores",
        pd.DataFrame({"model": ["a", "b"], "acc": [np.float64(0.5), np.nan]}),
        caption="accuracy",
    )
    report.figure(fig, "loss", caption="loss curves")
    report.record(best=np.float32(0.75), curve=np.array([1.0, 0.5]))
    path = report.save()
    assert path == tmp_path / "metrics.json"
    metrics = strict_loads(path.read_text())
    assert metrics["notebook"] == "02_demo"
    assert metrics["profile"] == "smoke"
    assert metrics["backend"] == "tensorflow"
    assert metrics["seed"] == 7
    assert metrics["parameters"] == params
    assert metrics["tables"] == {
        "scores": {
            "caption": "accuracy",
            "columns": ["model", "acc"],
            "rows": [{"model": "a", "acc": 0.5}, {"model": "b", "acc": None}],
        }
    }
    assert metrics["figures"] == [
        {
            "name": "loss",
            "caption": "loss curves",
            "files": ["figures/loss.png", "figures/loss.pdf"],
        }
    ]
    assert metrics["values"] == {"best": 0.75, "curve": [1.0, 0.5]}
    assert metrics["versions"]["python"] and metrics["versions"]["labs_lib"]
    assert "numpy" in metrics["versions"] and "matplotlib" in metrics["versions"]
    assert metrics["device"]["cpu_count"] == os.cpu_count() and metrics["device"]["machine"]
    assert isinstance(metrics["wall_seconds"], (int, float)) and 0 <= metrics["wall_seconds"] < 600
    datetime.fromisoformat(metrics["finished"])
    assert metrics["dataset"] is None
    assert leftovers(tmp_path) == []


def test_report_save_records_the_backend_of_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(reporting, "device", lambda: {"machine": "test"})  # do not import jax here
    metrics = strict_loads(Report("nb", {}, out_dir=tmp_path).save().read_text())
    assert metrics["backend"] == "jax"


def test_report_without_profile_or_seed_says_custom_and_null(tmp_path):
    metrics = strict_loads(Report("nb", {"epochs": 1}, out_dir=tmp_path).save().read_text())
    assert metrics["profile"] == "custom"
    assert metrics["seed"] is None
    assert metrics["tables"] == {} and metrics["figures"] == [] and metrics["values"] == {}


def test_report_table_keeps_a_named_index_and_returns_the_frame(tmp_path):
    report = Report("nb", {}, out_dir=tmp_path)
    df = pd.DataFrame({"loss": [0.5, 0.25]}, index=pd.Index(["sgd", "adam"], name="optimizer"))
    assert report.table("losses", df) is df
    table = strict_loads(report.save().read_text())["tables"]["losses"]
    assert table["columns"] == ["loss"]
    assert table["rows"] == [{"optimizer": "sgd", "loss": 0.5}, {"optimizer": "adam", "loss": 0.25}]


def test_report_figure_writes_png_and_pdf_under_figures(tmp_path, fig):
    report = Report("nb", {}, out_dir=tmp_path)
    report.figure(fig, "weights_hist", caption="weights")
    png, pdf = tmp_path / "figures" / "weights_hist.png", tmp_path / "figures" / "weights_hist.pdf"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "weights_hist.pdf",
        "weights_hist.png",
    ]
    assert report.figures == [
        {
            "name": "weights_hist",
            "caption": "weights",
            "files": ["figures/weights_hist.png", "figures/weights_hist.pdf"],
        }
    ]


def test_report_figure_saved_twice_under_one_name_is_listed_once(tmp_path, fig):
    report = Report("nb", {}, out_dir=tmp_path)
    report.figure(fig, "loss", caption="first")
    report.figure(fig, "loss", caption="second")
    assert [(f["name"], f["caption"]) for f in report.figures] == [("loss", "second")]


def test_report_figure_leaves_no_temp_file_when_saving_fails(tmp_path, fig, monkeypatch):
    report = Report("nb", {}, out_dir=tmp_path)

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("cannot render")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="cannot render"):
        report.figure(fig, "loss")
    figures = tmp_path / "figures"
    assert not figures.exists() or list(figures.iterdir()) == []
    assert report.figures == []


def stamped(figure):
    return [t.get_text() for t in figure.texts if "SYNTHETIC" in t.get_text()]


def test_synthetic_dataset_stamps_each_figure_and_is_recorded(tmp_path, fig):
    report = Report("nb", {}, out_dir=tmp_path)
    ds = FakeDataset(synthetic=True)
    assert report.dataset(ds) is ds
    report.figure(fig, "moons")
    assert stamped(fig) == ["SYNTHETIC DATA: not real results"]
    assert (tmp_path / "figures" / "moons.png").exists() and (
        tmp_path / "figures" / "moons.pdf"
    ).exists()
    metrics = strict_loads(report.save().read_text())
    assert metrics["dataset"] == {
        "name": "moons",
        "title": "Two moons (generated)",
        "synthetic": True,
        "source": "generated with numpy",
        "sizes": {"train": 80, "test": 20},
    }


def test_real_dataset_does_not_stamp_figures(tmp_path, fig):
    report = Report("nb", {}, out_dir=tmp_path)
    report.dataset(FakeDataset(synthetic=False))
    report.figure(fig, "digits")
    assert stamped(fig) == []
    assert strict_loads(report.save().read_text())["dataset"]["synthetic"] is False


def test_report_without_out_dir_writes_under_reports_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_REPORTS_DIR", str(tmp_path / "reports"))
    assert reporting.reports_dir() == tmp_path / "reports"
    report = Report("03_demo", {}, out_dir="")
    assert report.out_dir == tmp_path / "reports" / "03_demo"
    assert report.save() == tmp_path / "reports" / "03_demo" / "metrics.json"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_gives_the_file_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "metrics.json", "{}")
        assert current_umask() == umask
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


# ---------------------------------------------------------------- effects, cuts, locations


def test_an_effect_not_shown_is_recorded_and_said_with_what_to_try(tmp_path, capsys):
    report = Report("01_regularization", {"seed": 0}, out_dir=tmp_path)
    assert report.effect("overfitting", True, "the net overfits") is True
    assert (
        report.effect("stop", False, "the rule fires", "it never got there", "-p epochs=40")
        is False
    )
    said = capsys.readouterr().out
    assert "Not demonstrated in this run: the rule fires." in said and "try -p epochs=40" in said
    saved = json.loads(report.save().read_text())
    assert saved["effects"]["overfitting"] == {"shown": True, "claim": "the net overfits"}
    assert saved["effects"]["stop"]["shown"] is False


def test_the_location_names_the_published_folder_not_the_staging_one(tmp_path):
    staging = tmp_path / "reports" / ".staging-02_initialization-1a2b3c4d"
    report = Report("02_initialization", {"out_dir": str(staging)}, out_dir=staging)
    assert report.location == "reports/02_initialization"
    saved = json.loads(report.save().read_text())
    assert saved["parameters"]["out_dir"] == "reports/02_initialization"
    assert str(tmp_path) not in json.dumps(saved["parameters"])


def test_the_banner_lists_every_parameter_that_differs_from_the_full_profile(tmp_path, capsys):
    from labs_lib.shared.params import full_values

    values = {**full_values("02_initialization"), "epochs": 3, "profile": "quick"}
    values["out_dir"] = str(tmp_path)
    report = Report("02_initialization", values, out_dir=tmp_path)
    report.show_cuts()
    assert report.cuts == {"epochs": {"value": 3, "full": 20}}
    assert "epochs 3 (full 20)" in capsys.readouterr().out
    assert reporting.plural(1, "seed") == "1 seed" and reporting.plural(3, "seed") == "3 seeds"
