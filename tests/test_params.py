"""labs_lib.shared.params: reading a notebook's `parameters` cell, coercing command-line text,
validating values."""

import math

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labs_lib.shared.params import (
    Param,
    ParamError,
    check,
    check_all,
    coerce,
    notebook_path,
    parse_cell,
    read_params,
)

DOC_EXAMPLE = """\
epochs: int = 20            # training epochs per run; in [1, 1000]
learning_rate: float = 1e-3 # Adam step size; in (0, 1]
dataset: str = "mnist"      # dataset to train on; in {mnist, fashion_mnist, synthetic}
widths: list[int] = [100]   # hidden-layer widths; each in [1, 4096]
"""


def one(source):
    """The single Param of a one-parameter cell."""
    params = parse_cell(source)
    assert len(params) == 1
    return next(iter(params.values()))


# ---------------------------------------------------------------- parse_cell: what it reads


def test_parse_cell_reads_name_type_default_help_and_rule_in_cell_order():
    params = parse_cell(DOC_EXAMPLE)
    assert list(params) == ["epochs", "learning_rate", "dataset", "widths"]
    assert params["epochs"] == Param("epochs", "int", 20, "training epochs per run", "[1, 1000]")
    assert params["learning_rate"] == Param(
        "learning_rate", "float", 1e-3, "Adam step size", "(0, 1]"
    )
    assert params["dataset"] == Param(
        "dataset", "str", "mnist", "dataset to train on", "{mnist, fashion_mnist, synthetic}"
    )
    assert params["widths"] == Param(
        "widths", "list[int]", [100], "hidden-layer widths", "[1, 4096]"
    )


@pytest.mark.parametrize(
    "source, type_, default",
    [
        ("x: int = -3", "int", -3),
        ("x: float = 2.5e-4", "float", 2.5e-4),
        ("x: str = 'relu'", "str", "relu"),
        ("x: bool = True", "bool", True),
        ("x: list[int] = [1, 2, 3]", "list[int]", [1, 2, 3]),
        ("x: list[float] = [0.1, 1]", "list[float]", [0.1, 1]),
        ("x: list[str] = ['a', 'b']", "list[str]", ["a", "b"]),
        ("x: list = ['a']", "list[str]", ["a"]),  # a bare `list` is a list of str
        ("x: list[ int ] = [1]", "list[int]", [1]),  # spaces in the annotation do not matter
    ],
)
def test_parse_cell_reads_each_allowed_type_and_its_default(source, type_, default):
    param = one(source)
    assert (param.name, param.type, param.default) == ("x", type_, default)


def test_parse_cell_help_without_rule_keeps_the_whole_comment_and_no_rule():
    param = one("seed: int = 0  # random seed (numpy, keras)")
    assert param.help == "random seed (numpy, keras)"
    assert param.rule == ""


def test_parse_cell_without_comment_has_empty_help():
    param = one("seed: int = 0")
    assert (param.help, param.rule) == ("", "")


def test_parse_cell_ignores_blank_lines_and_comment_only_lines():
    params = parse_cell(
        "# --- training ---\n\nepochs: int = 5  # epochs; in [1, 10]\n\n# --- data ---\n"
        "batch: int = 32  # batch size; in [1, 512]\n"
    )
    assert list(params) == ["epochs", "batch"]
    assert params["epochs"].help == "epochs" and params["batch"].rule == "[1, 512]"


def test_parse_cell_of_an_empty_cell_is_empty():
    assert parse_cell("") == {}
    assert parse_cell("# nothing to set\n") == {}


@pytest.mark.parametrize(
    "comment, rule",
    [
        ("# n; in [1, 10]", "[1, 10]"),
        ("# n, in [1, 10]", "[1, 10]"),
        ("# n in [1, 10]", "[1, 10]"),
        ("# n; in [1,10]", "[1,10]"),
    ],
)
def test_parse_cell_separates_help_from_rule(comment, rule):
    param = one(f"n: int = 5  {comment}")
    assert (param.help, param.rule) == ("n", rule)


# ---------------------------------------------------------------- parse_cell: rules


def test_closed_interval_includes_both_ends():
    param = one("n: int = 5  # n; in [1, 10]")
    assert check(param, 1) == 1 and check(param, 10) == 10
    for bad in (0, 11):
        with pytest.raises(ParamError):
            check(param, bad)


def test_open_interval_excludes_both_ends():
    param = one("p: float = 0.5  # p; in (0, 1)")
    assert check(param, 1e-9) == 1e-9 and check(param, 0.999) == 0.999
    for bad in (0, 1, 0.0, 1.0):
        with pytest.raises(ParamError):
            check(param, bad)


def test_half_open_interval():
    param = one("lr: float = 0.1  # lr; in (0, 1]")
    assert check(param, 1) == 1.0
    with pytest.raises(ParamError):
        check(param, 0)
    param = one("lr: float = 0.1  # lr; in [0, 1)")
    assert check(param, 0) == 0.0
    with pytest.raises(ParamError):
        check(param, 1)


def test_interval_with_inf_bounds():
    upper = one("steps: int = 10  # steps; in [1, inf)")
    assert check(upper, 10**12) == 10**12
    with pytest.raises(ParamError):
        check(upper, 0)
    lower = one("shift: float = -1.0  # shift; in (-inf, 0]")
    assert check(lower, -1e300) == -1e300 and check(lower, 0) == 0.0
    with pytest.raises(ParamError):
        check(lower, 0.5)


def test_choices_with_and_without_quotes():
    plain = one('act: str = "relu"  # activation; in {relu, tanh, sigmoid}')
    quoted = one("act: str = 'relu'  # activation; in {'relu', \"tanh\"}")
    assert plain.rule == "{relu, tanh, sigmoid}"
    for param in (plain, quoted):
        assert check(param, "tanh") == "tanh"
        with pytest.raises(ParamError):
            check(param, "elu")


def test_integer_choices():
    param = one("depth: int = 2  # depth; in {1, 2, 4}")
    assert check(param, 4) == 4
    with pytest.raises(ParamError):
        check(param, 3)


def test_each_in_applies_an_interval_to_every_list_element():
    param = one("widths: list[int] = [100]  # widths; each in [1, 4096]")
    assert param.rule == "[1, 4096]"
    assert check(param, [1, 4096, 7]) == [1, 4096, 7]
    with pytest.raises(ParamError):
        check(param, [100, 0])


def test_each_in_applies_choices_to_every_list_element():
    param = one("inits: list[str] = ['he']  # initializers; each in {he, glorot}")
    assert check(param, ["glorot", "he"]) == ["glorot", "he"]
    with pytest.raises(ParamError):
        check(param, ["he", "zeros"])


def test_multiline_list_literal_takes_help_and_rule_from_the_closing_line():
    params = parse_cell(
        "widths: list[int] = [\n    100,  # first layer\n    50,\n]"
        "  # hidden widths; each in [1, 4096]\n"
        "epochs: int = 3  # epochs; in [1, 10]\n"
    )
    assert params["widths"] == Param("widths", "list[int]", [100, 50], "hidden widths", "[1, 4096]")
    assert params["epochs"].help == "epochs"  # the next parameter is read as usual
    with pytest.raises(ParamError):
        check(params["widths"], [5000])


def test_multiline_list_literal_with_comment_on_the_opening_line_keeps_its_rule():
    param = one("widths: list[int] = [  # hidden widths; each in [1, 4096]\n    100,\n    50,\n]\n")
    assert (param.help, param.rule) == ("hidden widths", "[1, 4096]")


# ---------------------------------------------------------------- parse_cell: what it refuses


@pytest.mark.parametrize(
    "source",
    [
        "epochs = 20  # untyped",
        "epochs: int  # no value",
        "import os",
        "print('hello')",
        "x, y = 1, 2",
        "cfg.epochs: int = 3",
        "'''a docstring'''",
        "if True:\n    n: int = 3",
    ],
)
def test_parse_cell_rejects_statements_that_are_not_typed_assignments(source):
    with pytest.raises(ParamError, match=r"my.ipynb, line 1: only typed literal assignments"):
        parse_cell(source, origin="my.ipynb")


def test_parse_cell_reports_the_line_of_the_offending_statement():
    with pytest.raises(ParamError, match="line 3"):
        parse_cell("a: int = 1\nb: int = 2\nc = 3\n")


@pytest.mark.parametrize(
    "source, shown",
    [
        ("n: int = 2 * 5", "2 * 5"),
        ("n: int = int('5')", "int('5')"),
        ("x: float = 1 / 3", "1 / 3"),
        ("d: str = os.getcwd()", "os.getcwd()"),
        ("w: list[int] = [n, 2]", "[n, 2]"),
        ("k: float = inf", "inf"),
    ],
)
def test_parse_cell_rejects_non_literal_values(source, shown):
    name = source.split(":")[0]
    with pytest.raises(ParamError) as info:
        parse_cell(source, origin="nb.ipynb")
    message = str(info.value)
    assert (
        "nb.ipynb" in message
        and f"parameter {name} must be a literal" in message
        and shown in message
    )


@pytest.mark.parametrize(
    "annotation", ["dict", "tuple", "list[bool]", "List[int]", "Optional[int]", "'int'"]
)
def test_parse_cell_rejects_types_outside_the_allowed_set(annotation):
    with pytest.raises(ParamError) as info:
        parse_cell(f"x: {annotation} = 1")
    message = str(info.value)
    assert "parameter x has type" in message and "allowed types: int, float, str, bool" in message


@pytest.mark.parametrize(
    "source",
    [
        "n: int = 0  # n; in [1, 10]",
        "p: float = 1.0  # p; in (0, 1)",
        "s: str = 'elu'  # act; in {relu, tanh}",
        "w: list[int] = [5, 0]  # widths; each in [1, 10]",
        "w: list[int] = []  # an empty list",
        "n: int = 1.5  # wrong type",
        "n: int = True  # a bool is not an int",
        "x: float = 'a'",
        "b: bool = 1",
        "w: list[int] = [1, 'a']",
        "s: str = 3",
    ],
)
def test_default_violating_its_own_rule_or_type_is_refused_at_parse_time(source):
    name = source.split(":")[0]
    with pytest.raises(ParamError, match=rf"^{name} must be"):
        parse_cell(source)


@pytest.mark.parametrize("source", ["%matplotlib inline\nn: int = 3", "n: int = "])
def test_parse_cell_rejects_invalid_python_with_param_error(source):
    with pytest.raises(ParamError, match="nb.ipynb"):
        parse_cell(source, origin="nb.ipynb")


def test_help_ending_in_a_parenthesised_unit_is_help_or_a_clear_param_error():
    try:
        param = one("wait: float = 1.0  # wait time in (seconds)")
    except ParamError:
        return  # a clear message about the malformed rule would be acceptable too
    assert param.rule == "" and param.help == "wait time in (seconds)"


# ---------------------------------------------------------------- coerce: command-line text


@pytest.mark.parametrize(
    "source, text, expected",
    [
        ("n: int = 1", "3", 3),
        ("n: int = 1", " 7 ", 7),
        ("n: int = 1", "-2", -2),
        ("x: float = 1.0", "1e-3", 1e-3),
        ("x: float = 1.0", "2", 2.0),
        ("x: float = 1.0", "-0.5", -0.5),
        ("s: str = 'a'", "he_normal", "he_normal"),
        ("s: str = 'a'", " spaced ", "spaced"),
        ("s: str = 'a'", "", ""),
        ("w: list[int] = [1]", "1,2,3", [1, 2, 3]),
        ("w: list[int] = [1]", "1, 2, ", [1, 2]),
        ("w: list[int] = [1]", "4", [4]),
        ("w: list[int] = [1]", "[1, 2]", [1, 2]),
        ("w: list[int] = [1]", " [10,20] ", [10, 20]),
        ("w: list[float] = [1.0]", "0.5,1", [0.5, 1.0]),
        ("w: list[float] = [1.0]", "[0.5, 1]", [0.5, 1.0]),
        ("w: list[str] = ['a']", "he_normal,glorot_normal", ["he_normal", "glorot_normal"]),
        ("w: list[str] = ['a']", "a, b", ["a", "b"]),
        ("w: list[str] = ['a']", '["a", "b c"]', ["a", "b c"]),
    ],
)
def test_coerce_turns_command_line_text_into_typed_values(source, text, expected):
    value = coerce(one(source), text)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in value] == [type(v) for v in expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        (" no ", False),
    ],
)
def test_coerce_bool_accepts_true_false_1_0_yes_no(text, expected):
    assert coerce(one("flag: bool = False"), text) is expected


@pytest.mark.parametrize(
    "source, text",
    [
        ("n: int = 1", "3.5"),
        ("n: int = 1", "abc"),
        ("n: int = 1", ""),
        ("n: int = 1", "1e3"),
        ("x: float = 1.0", "abc"),
        ("x: float = 1.0", "nan"),
        ("x: float = 1.0", "inf"),
        ("flag: bool = False", "maybe"),
        ("flag: bool = False", "2"),
        ("w: list[int] = [1]", "1,x"),
        ("w: list[int] = [1]", ""),
        ("w: list[int] = [1]", ","),
        ("w: list[int] = [1]", "[]"),
        ("w: list[int] = [1]", "[1, 2"),
        ("w: list[int] = [1]", "[1.5]"),
        ("w: list[int] = [1]", "(1, 2)"),
        ("w: list[float] = [1.0]", "0.5,abc"),
    ],
)
def test_coerce_refuses_text_that_is_not_of_the_type(source, text):
    param = one(source)
    with pytest.raises(ParamError) as info:
        coerce(param, text)
    assert str(info.value).startswith(f"{param.name} must be ")


def test_coerce_message_names_the_parameter_the_text_and_what_is_allowed():
    with pytest.raises(ParamError) as info:
        coerce(one("epochs: int = 20  # epochs; in [1, 1000]"), "many")
    assert str(info.value) == "epochs must be an int in [1, 1000], got 'many'"


def test_coerce_checks_the_rule_after_converting():
    param = one("epochs: int = 20  # epochs; in [1, 1000]")
    assert coerce(param, "1000") == 1000
    with pytest.raises(ParamError, match=r"epochs must be an int in \[1, 1000\], got 1001"):
        coerce(param, "1001")
    widths = one("widths: list[int] = [100]  # widths; each in [1, 4096]")
    with pytest.raises(ParamError, match=r"widths .*each in \[1, 4096\], got \[100, 5000\]"):
        coerce(widths, "100,5000")


def test_numeric_choices_compare_by_value_not_by_spelling():
    rate = one("rate: float = 0.5  # dropout rate; in {0, 0.5}")
    assert coerce(rate, "0") == 0.0
    lr = one("lr: float = 1e-3  # learning rate; in {1e-3, 1e-2}")
    assert coerce(lr, "0.01") == 0.01


# ---------------------------------------------------------------- check / check_all


@pytest.mark.parametrize(
    "source, value, pieces",
    [
        ("epochs: int = 20  # epochs; in [1, 1000]", 0, ["epochs", "got 0", "[1, 1000]", "int"]),
        ("epochs: int = 20  # epochs; in [1, 1000]", 2.5, ["epochs", "got 2.5", "[1, 1000]"]),
        ("lr: float = 0.1  # lr; in (0, 1]", 0, ["lr", "got 0", "(0, 1]", "float"]),
        ("lr: float = 0.1  # lr; in (0, 1]", "0.1", ["lr", "got '0.1'", "(0, 1]"]),
        (
            "act: str = 'relu'  # act; in {relu, tanh}",
            "elu",
            ["act", "got 'elu'", "{relu, tanh}", "one of"],
        ),
        (
            "w: list[int] = [1]  # widths; each in [1, 10]",
            [3, 11],
            ["w", "got [3, 11]", "[1, 10]", "list of int"],
        ),
        ("w: list[str] = ['a']  # names; each in {a, b}", ["c"], ["w", "got ['c']", "{a, b}"]),
        ("w: list[int] = [1]", [], ["w", "got []", "non-empty list"]),
        ("w: list[int] = [1]", 3, ["w", "got 3", "list of int"]),
        ("flag: bool = False", 1, ["flag", "got 1", "bool"]),
        ("s: str = 'x'", None, ["s", "got None", "str"]),
    ],
)
def test_check_error_names_parameter_given_value_and_what_is_allowed(source, value, pieces):
    with pytest.raises(ParamError) as info:
        check(one(source), value)
    message = str(info.value)
    for piece in pieces:
        assert piece in message, f"{piece!r} not in {message!r}"


def test_check_returns_value_and_widens_ints_for_float_parameters():
    lr = one("lr: float = 0.1  # lr; in (0, 10]")
    assert check(lr, 3) == 3.0 and type(check(lr, 3)) is float
    ws = one("ws: list[float] = [0.1]")
    assert [type(v) for v in check(ws, [1, 2.5])] == [float, float]
    assert check(one("n: int = 1"), 7) == 7


@pytest.mark.parametrize("value", [True, False])
def test_check_refuses_bool_for_int_and_float(value):
    for source in ("n: int = 1", "x: float = 1.0"):
        with pytest.raises(ParamError):
            check(one(source), value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_refuses_non_finite_floats(value):
    with pytest.raises(ParamError, match="x must be a float"):
        check(one("x: float = 1.0"), value)


def test_check_all_returns_checked_values():
    params = parse_cell(DOC_EXAMPLE)
    assert check_all(params, {"epochs": 3, "learning_rate": 1, "widths": [8, 16]}) == {
        "epochs": 3,
        "learning_rate": 1.0,
        "widths": [8, 16],
    }
    assert check_all(params, {}) == {}


def test_check_all_refuses_unknown_names_listing_the_allowed_ones():
    params = parse_cell(DOC_EXAMPLE)
    with pytest.raises(ParamError) as info:
        check_all(params, {"epochs": 3, "epoch": 4}, origin="profile 'quick', notebook 02")
    message = str(info.value)
    assert "profile 'quick', notebook 02" in message
    assert "unknown parameter 'epoch'" in message
    assert "allowed: epochs, learning_rate, dataset, widths" in message


def test_check_all_checks_each_value():
    with pytest.raises(ParamError, match=r"epochs must be an int in \[1, 1000\], got 0"):
        check_all(parse_cell(DOC_EXAMPLE), {"epochs": 0})


# ---------------------------------------------------------------- Param.describe


@pytest.mark.parametrize(
    "source, words",
    [
        ("n: int = 1  # n; in [1, 10]", "an int in [1, 10]"),
        ("x: float = 1.0", "a float"),
        ("s: str = 'a'  # s; in {a, b}", "one of {a, b}"),
        ("w: list[int] = [1]  # w; each in [1, 9]", "a non-empty list of int, each in [1, 9]"),
        (
            "w: list[str] = ['a']  # w; each in {a, b}",
            "a non-empty list of str, each one of {a, b}",
        ),
        ("b: bool = True", "a bool"),
    ],
)
def test_describe_says_what_a_parameter_accepts(source, words):
    assert one(source).describe() == words


# ---------------------------------------------------------------- reading a notebook


def test_read_params_reads_the_cell_tagged_parameters(nbmaker, tmp_path):
    nbmaker.notebook(tmp_path, "aa_demo")
    params = read_params("aa_demo", notebooks_dir=tmp_path)
    assert list(params) == ["profile", "n", "fail", "sleep", "out_dir"]
    assert params["n"] == Param("n", "int", 3, "points to plot", "[1, 100]")
    assert read_params(tmp_path / "aa_demo.ipynb") == params
    assert notebook_path("aa_demo", tmp_path) == tmp_path / "aa_demo.ipynb"


def test_read_params_refuses_a_notebook_without_parameters_cell(tmp_path):
    nb = new_notebook(cells=[new_code_cell("n = 3")])
    nbformat.write(nb, str(tmp_path / "bare.ipynb"))
    with pytest.raises(ParamError, match="no cell tagged 'parameters'"):
        read_params("bare", notebooks_dir=tmp_path)


def test_unquoted_bracketed_string_list_is_split_like_a_comma_list():
    names = one("names: list[str] = ['a']  # names; each in {a, b, c}")
    assert coerce(names, "[a, b]") == ["a", "b"]
    assert coerce(names, "['a', 'c']") == ["a", "c"]


def test_a_hyphenated_word_ending_in_in_does_not_start_a_rule():
    param = one("synthetic: bool = False  # use a synthetic stand-in (smoke tests only)")
    assert param.rule == "" and param.help == "use a synthetic stand-in (smoke tests only)"


def test_a_help_comment_goes_on_over_the_comment_only_lines_below_it():
    cell = (
        'opt: str = "sgd"  # optimizer of the deep runs (plain SGD shows vanishing\n'
        "#   gradients); in {sgd,\n"
        "#   adam, rmsprop}\n"
        "n: int = 3  # points; in [1, 10]\n"
        "\n"
        "# a section comment, not a continuation\n"
        "m: int = 1  # copies\n"
    )
    params = parse_cell(cell)
    assert params["opt"].rule == "{sgd, adam, rmsprop}"
    assert params["opt"].help == "optimizer of the deep runs (plain SGD shows vanishing gradients)"
    assert params["n"].help == "points" and params["m"].help == "copies"
    with pytest.raises(ParamError, match="opt must be one of {sgd, adam, rmsprop}, got 'adagrad'"):
        check(params["opt"], "adagrad")
