"""dl-labs helper package: data, models, training, diagnostics, plots, reporting, runner.

Importing it is cheap (no Keras): the runner and the CLI use it before any kernel starts.
"""
import os
from pathlib import Path

# Keep TensorFlow's C++ start-up chatter out of notebooks; must happen before Keras is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
#: The checkout this package was installed from (editable install): notebooks/, data/, reports/ live here.
PROJECT_ROOT = PACKAGE_DIR.parent
