"""Tables as LaTeX: the form nbconvert typesets in the PDF reports.

A notebook's kernel gives every pandas DataFrame this form beside its HTML (`register_latex_tables`,
which `reporting.Report` calls); the PDF code uses `latex_table` for its own (parameter) tables.
"""

import numpy as np
import pandas as pd


def latex_table(df):
    """A DataFrame as a booktabs LaTeX table, captioned df.attrs["caption"]; long: a longtable."""
    frame, columns = table_frame(df)
    header = " & ".join(latex_escape(column_label(c)) for c in frame.columns) + r" \\"
    rows = [
        " & ".join(latex_escape(format_cell(v)) for v in row) + r" \\"
        for row in frame.itertuples(index=False)
    ]
    caption = latex_escape(df.attrs.get("caption", ""))
    if len(rows) > LONG_TABLE_ROWS:
        return long_table(columns, caption, header, rows)
    return fitted_table(columns, caption, header, rows)


def table_frame(df):
    """(frame, column alignments) to typeset: a named index as columns, wide tables transposed."""
    show_index = not isinstance(df.index, pd.RangeIndex) or df.index.name is not None
    names = ["" if n is None else n for n in df.index.names]  # an unnamed index gets a blank header
    frame = df.reset_index(names=names, allow_duplicates=True) if show_index else df
    columns = "".join(
        "r" if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) else "l"
        for t in frame.dtypes
    )
    wide = frame.shape[1] > WIDE_TABLE_COLUMNS and len(frame) < frame.shape[1] / 2
    if wide and columns[0] == "l":  # few rows, many columns: one row per column
        frame = frame.set_index(frame.columns[0]).T.reset_index()
        frame.columns = ["", *frame.columns[1:]]
        columns = "l" + "r" * (frame.shape[1] - 1)
    return frame, columns


def long_table(columns, caption, header, rows):
    """A longtable, which breaks across pages, its header repeated on each."""
    cap = rf"\caption{{{caption}}}\\" if caption else ""
    return "\n".join(
        [
            r"{\footnotesize",
            rf"\begin{{longtable}}{{{columns}}}",
            cap,
            r"\toprule",
            header,
            r"\midrule",
            r"\endhead",
            *rows,
            r"\bottomrule",
            r"\end{longtable}}",
        ]
    )


def fitted_table(columns, caption, header, rows):
    """A floating table, shrunk to the line width when wider."""
    cap = [rf"\caption{{{caption}}}"] if caption else []
    return "\n".join(
        [
            r"\begin{table}[H]\centering\small",
            *cap,
            r"\begin{adjustbox}{max width=\linewidth}",
            rf"\begin{{tabular}}{{{columns}}}",
            r"\toprule",
            header,
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{adjustbox}",
            r"\end{table}",
        ]
    )


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
# Wider tables with under half as many rows as columns are printed transposed.
WIDE_TABLE_COLUMNS = 8
# Longer tables break across pages (longtable) instead of shrinking to fit one.
LONG_TABLE_ROWS = 40


def latex_escape(text):
    """Plain text made safe for LaTeX (its ten special characters escaped)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def column_label(column):
    """A column name as text; MultiIndex levels joined by spaces ("test_accuracy 0.01")."""
    if isinstance(column, tuple):
        return " ".join(str(level) for level in column if str(level))
    return str(column)


def format_cell(value):
    """A table cell as text: 4 significant digits, scientific notation for tiny or huge numbers."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def register_latex_tables():
    """Give DataFrames a text/latex form in this kernel (beside pandas' HTML), for the PDFs."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/latex"].for_type(pd.DataFrame, latex_or_none)


def latex_or_none(df):
    """latex_table for the display formatter: a table it cannot typeset warns and falls back to
    plain text in PDFs, never stopping the notebook."""
    try:
        return latex_table(df)
    except Exception as exc:  # noqa: BLE001 - a display form must not break the run
        import warnings

        problem = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"no LaTeX form for this table ({problem}); PDFs show it as plain text")
        return None
