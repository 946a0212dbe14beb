"""Notebook parameters: read a notebook's `parameters` cell, coerce command-line text, check values.

A parameters cell holds one literal per line, typed, with a help comment that may end in
the allowed values:

    epochs: int = 20            # training epochs per run; in [1, 1000]
    learning_rate: float = 1e-3 # Adam step size; in (0, 1]
    dataset: str = "mnist"      # dataset to train on; in {mnist, fashion_mnist, synthetic}
    widths: list[int] = [100]   # hidden-layer widths; each in [1, 4096]
    optimizer: str = "sgd"      # optimizer of the deep runs (plain SGD shows vanishing gradients);
    #   in {sgd, adam}            (a long help text goes on over comment-only lines below it)

`[a, b]` / `(a, b)` are closed / open intervals (`inf` allowed), `{a, b}` a set of choices;
for a list the rule applies to each element, and a list may not be empty.
"""

import ast
import io
import math
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

from labs_lib import PROJECT_ROOT

SCALAR_TYPES = ("int", "float", "str", "bool")
TYPES = SCALAR_TYPES + tuple(f"list[{t}]" for t in ("int", "float", "str"))
_RULE = re.compile(r"[;,]?\s*(?:\beach\s+)?(?<![\w-])in\s+([\[(][^\[\]()]*[\])]|\{[^}]*\})\s*$")


class ParamError(ValueError):
    """A parameter name, type or value that the notebook does not allow."""


@dataclass(frozen=True)
class Param:
    """One parameter of a notebook: its name, type, default, help text and allowed values."""

    name: str
    type: str
    default: object
    help: str
    rule: str = ""  # "[1, 1000]", "(0, 1]", "{a, b}" or "" for anything of the right type

    @property
    def elem_type(self):
        return self.type[5:-1] if self.type.startswith("list[") else self.type

    def describe(self):
        """What this parameter accepts, in words: 'an int in [1, 1000]'."""
        article = "an" if self.elem_type == "int" else "a"
        kind = (
            f"a non-empty list of {self.elem_type}"
            if self.type.startswith("list")
            else f"{article} {self.type}"
        )
        if not self.rule:
            return kind
        is_list = self.type.startswith("list")
        if self.rule.startswith("{"):
            return f"{kind}, each one of {self.rule}" if is_list else f"one of {self.rule}"
        return f"{kind}, each in {self.rule}" if is_list else f"{kind} in {self.rule}"


def notebook_path(notebook, notebooks_dir=None):
    """The .ipynb file of a notebook given by name ('02_initialization') or path."""
    path = Path(notebook)
    if path.suffix == ".ipynb":
        return path
    return Path(notebooks_dir or PROJECT_ROOT / "notebooks") / f"{notebook}.ipynb"


def parameters_source(path):
    """Source of the cell tagged `parameters` in the notebook at `path`."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell.source
    raise ParamError(f"{path} has no cell tagged 'parameters'")


def read_params(notebook, notebooks_dir=None):
    """The parameters of a notebook, in cell order, as {name: Param}."""
    path = notebook_path(notebook, notebooks_dir)
    return parse_cell(parameters_source(path), origin=str(path))


def parse_cell(source, origin="parameters cell"):
    """Parse a parameters cell into {name: Param}; only typed literal assignments are allowed."""
    try:
        body = ast.parse(source).body
    except SyntaxError as exc:
        raise ParamError(
            f"{origin}, line {exc.lineno}: not valid Python ({exc.msg}); only typed literal "
            f"assignments (`name: type = value  # help`) belong in a parameters cell"
        ) from None
    comments = _comments_by_line(source)
    params = {}
    for node in body:
        param = _param_from(node, comments, origin)
        check(param, param.default)  # a default breaking its own rule: the notebook author's bug
        params[param.name] = param
    return params


def _param_from(node, comments, origin):
    """The Param of one statement of a parameters cell; `comments`: {line number: comment text}."""
    if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value):
        raise ParamError(
            f"{origin}, line {node.lineno}: only typed literal assignments "
            f"(`name: type = value  # help`) belong in a parameters cell"
        )
    name, type_ = node.target.id, ast.unparse(node.annotation).replace(" ", "")
    if type_ == "list":
        type_ = "list[str]"
    if type_ not in TYPES:
        raise ParamError(
            f"{origin}: parameter {name} has type {type_!r}; allowed types: {', '.join(TYPES)}"
        )
    try:
        default = ast.literal_eval(node.value)
    except ValueError:
        raise ParamError(
            f"{origin}: parameter {name} must be a literal, got `{ast.unparse(node.value)}`"
        ) from None
    text = comments.get(node.end_lineno) or comments.get(node.lineno, "")
    match = _RULE.search(text)
    help_, rule = (text[: match.start()].strip(), match.group(1)) if match else (text, "")
    if rule and not _valid_rule(rule):
        raise ParamError(
            f"{origin}: parameter {name} has rule {rule!r}; write [lo, hi] or (lo, hi) with "
            f"numbers or inf, or {{a, b, ...}}"
        )
    return Param(name, type_, default, help_, rule)


def _valid_rule(rule):
    if rule.startswith("{"):
        return True
    bounds = rule[1:-1].split(",")
    try:
        return len(bounds) == 2 and all(float(b) == float(b) for b in bounds)
    except ValueError:
        return False


def _comments_by_line(source):
    """{line: comment} for comments that follow code; a comment goes on over the comment-only lines
    right below it (a help text too long for one line)."""
    lines, comments, owner, previous = source.splitlines(), {}, None, None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start
        text = tok.string.lstrip("#").strip()
        if lines[row - 1][:col].strip():
            comments[row], owner, previous = text, row, row
        elif owner is not None and row == previous + 1:
            comments[owner], previous = f"{comments[owner]} {text}", row
        else:
            owner = None
    return comments


def coerce(param, text):
    """Command-line text (`-p name=text`) as a value of the parameter's type, checked."""
    try:
        if param.type.startswith("list"):
            items = _list_items(text)
            if not isinstance(items, list):
                raise ValueError
            value = [_coerce_scalar(param.elem_type, item) for item in items]
        else:
            value = _coerce_scalar(param.type, text)
    except (ValueError, SyntaxError):
        raise ParamError(f"{param.name} must be {param.describe()}, got {text!r}") from None
    return check(param, value)


def _list_items(text):
    """Items of a list given as `a,b,c`, `[1, 2]` or `['a', 'b']` (or `[a, b]`, unquoted)."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            text = text[1:-1]
    return [t for t in text.split(",") if t.strip()]


def _coerce_scalar(type_, item):
    if not isinstance(item, str):
        return item
    item = item.strip()
    if type_ == "bool":
        lowered = item.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(item)
        return lowered in ("true", "1", "yes")
    if type_ == "int":
        return int(item)
    return float(item) if type_ == "float" else item


def check(param, value):
    """`value` (ints widened to float for float parameters) if allowed; else raise ParamError."""
    if param.type.startswith("list"):
        if not isinstance(value, list) or not value:
            raise ParamError(f"{param.name} must be {param.describe()}, got {value!r}")
        return [_check_scalar(param, v, whole=value) for v in value]
    return _check_scalar(param, value, whole=value)


def _check_scalar(param, value, whole):
    type_ = param.elem_type
    ok_type = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
    }[type_]
    if (
        not ok_type
        or (type_ == "float" and not math.isfinite(value))
        or not _allowed(param.rule, type_, value)
    ):
        raise ParamError(f"{param.name} must be {param.describe()}, got {whole!r}")
    return float(value) if type_ == "float" else value


def _allowed(rule, type_, value):
    if not rule:
        return True
    if rule.startswith("{"):
        choices = [c.strip().strip("'\"") for c in rule[1:-1].split(",")]
        if type_ in ("int", "float"):
            try:
                return any(value == float(c) for c in choices)
            except ValueError:
                return False
        return str(value) in choices
    lo_text, hi_text = (part.strip() for part in rule[1:-1].split(","))
    lo, hi = float(lo_text), float(hi_text)
    above = value >= lo if rule[0] == "[" else value > lo
    below = value <= hi if rule[-1] == "]" else value < hi
    return above and below


def check_all(params, values, origin="parameters"):
    """Check a {name: value} mapping against {name: Param}; unknown names are an error."""
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ParamError(
            f"{origin}: unknown parameter {unknown[0]!r}; allowed: {', '.join(params)}"
        )
    return {name: check(params[name], value) for name, value in values.items()}


def bind(notebook, namespace):
    """Validate the parameter values a notebook is running with; returns them as a dict.

    Call it right after the parameters cell: `P = params.bind("02_initialization", globals())`.
    It catches a bad value typed into the cell with the same message the runner gives.
    """
    spec = read_params(notebook)
    missing = [name for name in spec if name not in namespace]
    if missing:
        raise ParamError(f"run the parameters cell first: {', '.join(missing)} not defined")
    return check_all(spec, {name: namespace[name] for name in spec}, origin=str(notebook))


def full_values(notebook, notebooks_dir=None):
    """The notebook's parameter values under the `full` profile: its defaults, with any value that
    profiles/full.yaml sets for it."""
    import yaml

    folder = Path(notebooks_dir or PROJECT_ROOT / "notebooks")
    values = {name: p.default for name, p in read_params(notebook, folder).items()}
    path = folder / "profiles" / "full.yaml"
    listed = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    values.update(listed.get(Path(notebook).stem) or {})
    return values


# Set by the runner or by hand, never a cut of the experiment.
NOT_CUTS = ("profile", "out_dir", "tensorboard")


def cuts(notebook, values, notebooks_dir=None):
    """{name: (this run's value, full's value)} for every parameter that differs from `full`."""
    full = full_values(notebook, notebooks_dir)
    return {
        name: (value, full[name])
        for name, value in values.items()
        if name in full and name not in NOT_CUTS and value != full[name]
    }
