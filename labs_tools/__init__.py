"""dl-labs tooling for instructors: run the notebooks headless, typeset PDF reports, write the
gallery.

    cli       the `labs` command (list, run, check, exercises, grade, pdf, gallery, lab)
    runner    validate a run, execute notebooks in workers, publish their outputs atomically
    worker    one notebook's process (started ahead of its turn: a warm start)
    check     `labs check`: executed runs against notebooks/references.yaml, check.json
    course    the notebooks' exercises; `labs exercises`: student versions (nbgrader)
    grading   `labs grade`: run submissions (grade_worker) and score their test cells
    pdf       executed notebooks as LaTeX reports (template in templates/labs_report/)
    gallery   reports/index.html and reports/README.md

It imports `labs_lib` (the parameters-cell contract and file helpers in `labs_lib.shared`);
`labs_lib` never imports it, so the package students read stays free of tooling.
"""
