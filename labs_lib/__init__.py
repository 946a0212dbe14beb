"""dl-labs helper package: what the notebooks import and students read.

The lessons' modules, in the order data flows through an experiment:

    data            datasets (load, Dataset, random labels, target functions)
    models          MLPs, CNNs and regressors; nets trained side by side
    layers          batch normalization written out (notebook 05)
    regularization  weight penalties, input and label noise, augmentation
    training        compile, fit, evaluate; seeds; early stopping; TensorBoard
    loops           compiled full-batch training (notebooks 06, 07)
    lowlevel        a softmax network in TensorFlow's low-level API (notebook 04)
    diagnostics     activations, gradients, Hessians, trajectories, sharpness
    stats           spread over seeds, intervals, paired comparisons, what a result supports
    plots           the figures
    reporting       a notebook's start (`Report.start`), figures, tables and metrics.json
    references      the run against notebooks/references.yaml (invariants, measured, published)
    exercises       the checks of the exercises' test cells (a hint and the mistake named)

Under the hood, not needed to follow a lesson: `_data_sources` (dataset files, checksums, downloads)
and `shared/` (the parameters-cell contract, atomic file writes, tables as LaTeX), which the
instructors' tooling (`labs_tools`: the `labs` command, runner, PDF reports, gallery) uses too. This
package never imports `labs_tools`. Importing it is cheap (no Keras).
"""

import os
from pathlib import Path

# Keep TensorFlow's C++ start-up chatter out of notebooks; must happen before Keras is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
#: The checkout this package was installed from (editable install): notebooks/, data/, reports/.
PROJECT_ROOT = PACKAGE_DIR.parent
