"""The `.nn` language: registry, tokenizer, values, parser errors with exact positions, fuzzing."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shell.errors import NNError, closest, did_you_mean
from shell.language import lexer
from shell.language.completion_context import completion_context
from shell.language.lexer import lex_lines, tokenize_line
from shell.language.parser import ModelBlock, Node, check_line, parse, parse_line, parse_value
from shell.language.values import FloatList
from shell.registry import lookup
from shell.registry.layer_table import LAYERS
from shell.registry.specs import KINDS, Option
from shell.registry.statement_table import STATEMENTS
from shell.registry.value_sets import value_set


def error_of(text, in_block=False, file="t.nn", line=1) -> NNError:
    with pytest.raises(NNError) as info:
        parse_line(text, line, file, in_block=in_block)
    return info.value


def script_error(text, file="s.nn") -> NNError:
    with pytest.raises(NNError) as info:
        parse(text, file)
    return info.value


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

def test_every_statement_and_form_has_help_and_example():
    for stmt in STATEMENTS:
        assert stmt.help, stmt.name
        assert stmt.example, stmt.name
        for sub in stmt.subcommands:
            assert sub.help and sub.example, sub.full_name
            assert sub.example.split()[:2] == [stmt.name, sub.name], sub.example


def test_every_layer_has_help_example_and_shape_rule():
    for spec in LAYERS:
        assert spec.help and spec.example and spec.shape_rule, spec.name
        assert spec.example.split()[0] == spec.name
        import engine.layers
        assert hasattr(engine.layers, spec.keras), spec.keras


def test_every_option_has_help_and_a_known_kind():
    specs = [*LAYERS, *(form for _, form in lookup.iter_forms())]
    for spec in specs:
        names = set()
        for opt in spec.options:
            assert opt.help, (spec.name, opt.name)
            assert opt.kind in KINDS
            for key in (opt.name, *opt.aliases):
                assert key not in names, f"{spec.name}: {key} listed twice"
                names.add(key)
            if opt.kind in ("choice", "names"):
                assert opt.choices, (spec.name, opt.name)


def test_statement_examples_parse():
    for stmt in STATEMENTS:
        program = parse(stmt.example, f"help {stmt.name}")
        assert program, stmt.name
        for sub in stmt.subcommands:
            node = parse_line(sub.example)
            assert node.name == stmt.name and node.sub == sub.name


def test_layer_examples_parse_inside_a_block():
    for spec in LAYERS:
        program = parse(f"model m\n  {spec.example}\nend\n")
        block = program[0]
        assert isinstance(block, ModelBlock) and block.layers[0].name == spec.name


def test_layer_examples_build_with_their_example_input():
    from engine.layers import InputLayer
    from engine.models import Sequential
    for spec in LAYERS:
        if spec.keras == "InputLayer":
            continue
        node = parse_line(spec.example, in_block=True)
        model = Sequential(name="m")
        model.input_layer = InputLayer(shape=spec.example_input, name="input_layer")
        model.add(spec.build(node.values(), name="x"))
        assert model.output_shape[0] is None


def test_every_statement_has_a_handler_and_no_handler_is_orphaned():
    from shell.statements import handler_names
    assert sorted(handler_names()) == sorted(lookup.statement_names())


def test_value_sets_come_from_the_engine():
    from engine import layers, losses, optimizers
    assert value_set("activations") == tuple(layers.ACTIVATION_NAMES)
    assert set(value_set("optimizers")) == {"sgd", "rmsprop", "adam"}
    assert "categorical_crossentropy" in value_set("losses")
    assert set(value_set("losses")) == set(losses.BY_NAME)
    assert "accuracy" in value_set("metrics")
    assert {"numpy", "numba", "cuda", "cuda-emu"} <= set(value_set("backends"))
    assert optimizers.get(value_set("optimizers")[0])


def test_completer_queries():
    assert "train" in lookup.statement_names()
    assert "exit" in lookup.all_heads()
    assert "conv2d" in lookup.layer_names()
    assert lookup.block_keywords() == ["end", "abort"]
    conv = lookup.find_layer("Conv2D")
    assert conv is lookup.find_layer("conv2d")
    assert lookup.find_option(conv, "kernel_size").name == "kernel"
    assert "same" in lookup.values_for(lookup.find_option(conv, "padding"))
    assert "softmax" in lookup.values_for(lookup.find_option(conv, "activation"))
    run = lookup.find_statement("run")
    assert lookup.find_option(run, "file").takes_path
    data = lookup.find_statement("data")
    assert [s.name for s in data.subcommands][:3] == ["digits", "sine", "energies"]
    assert lookup.find_statement("exit") is lookup.find_statement("quit")


def test_usage_strings():
    assert lookup.find_layer("dense").usage().startswith("dense UNITS [activation=")
    assert lookup.find_statement("data").usage().startswith("data digits|sine|energies")


# --------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------

def kinds(text):
    return [(t.kind, t.text) for t in tokenize_line(text) if t.kind != lexer.SPACE]


def test_tokens_cover_the_line_and_have_spans():
    text = "  conv2d 10 kernel=(3, 3) padding=same   # a comment"
    tokens = tokenize_line(text)
    assert "".join(t.text for t in tokens) == text
    for tok in tokens:
        assert text[tok.start:tok.end] == tok.text
    assert kinds(text) == [("head", "conv2d"), ("number", "10"), ("key", "kernel"), ("equals", "="),
                           ("punct", "("), ("number", "3"), ("punct", ","), ("number", "3"), ("punct", ")"),
                           ("key", "padding"), ("equals", "="), ("word", "same"), ("comment", "# a comment")]


def test_tokens_for_calls_strings_and_errors():
    assert kinds('grid lr=logspace(-5,1,7) to="my grid.png"') == [
        ("head", "grid"), ("key", "lr"), ("equals", "="), ("word", "logspace"), ("punct", "("), ("number", "-5"),
        ("punct", ","), ("number", "1"), ("punct", ","), ("number", "7"), ("punct", ")"), ("key", "to"),
        ("equals", "="), ("string", '"my grid.png"')]
    assert kinds('save weights "unterminated')[-1] == ("error", '"unterminated')
    assert kinds("plot history to=a#b.png") == [("head", "plot"), ("word", "history"), ("key", "to"),
                                                 ("equals", "="), ("word", "a#b.png")]


def test_lex_lines_classifies_heads_by_block():
    lines = ["data digits", "model cnn", "  dense 10", "  trian", "end", "dense 3"]
    heads = [[t.kind for t in toks if t.kind not in (lexer.SPACE,)][0] for toks in lex_lines(lines)]
    assert heads == ["statement", "statement", "layer", "unknown", "block", "unknown"]
    assert [t.kind for t in lex_lines(["data digits"])[0]] == ["statement", "space", "subcommand"]


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------

def opt(kind, **kw):
    return Option("v", kind, "test", **kw)


def test_value_kinds():
    assert parse_value(opt("int"), "12") == 12
    assert parse_value(opt("int"), "1e3") == 1000
    assert parse_value(opt("float"), "1e-4") == 1e-4
    assert parse_value(opt("bool"), "Yes") is True
    assert parse_value(opt("shape"), "(8, 8, 1)") == (8, 8, 1)
    assert parse_value(opt("shape"), "4") == (4,)
    assert parse_value(opt("shape"), "(4,)") == (4,)
    assert parse_value(opt("size"), "3") == 3
    assert parse_value(opt("size"), "(3,5)") == (3, 5)
    assert parse_value(opt("padding"), "SAME") == "same"
    assert parse_value(opt("padding"), "2") == 2
    assert parse_value(opt("names", values="metrics"), "accuracy,mse") == ("accuracy", "mse")
    assert parse_value(opt("columns"), "a,0,2:4") == ("a", 0, slice(2, 4))
    assert parse_value(opt("path"), '"a b/c.png"') == "a b/c.png"
    assert parse_value(opt("path"), "../x(1).png") == "../x(1).png"


def test_logspace_and_linspace_are_parsed_not_evaluated():
    import numpy as np
    value = parse_value(opt("floats"), "logspace(-5,1,7)")
    assert isinstance(value, FloatList) and value.source == "logspace(-5,1,7)"
    np.testing.assert_allclose(value.values, np.logspace(-5, 1, 7), rtol=1e-12)
    np.testing.assert_allclose(parse_value(opt("floats"), "linspace(0, 1, 5)").values, np.linspace(0, 1, 5))
    assert parse_value(opt("floats"), "[1e-3, 0.1]").values == (1e-3, 0.1)
    assert parse_value(opt("floats"), "0.5").values == (0.5,)
    with pytest.raises(NNError, match="unknown function 'logspase'"):
        parse_value(opt("floats"), "logspase(1,2,3)")
    with pytest.raises(NNError, match="does not give finite"):
        parse_value(opt("floats"), "logspace(1,400,3)")


@pytest.mark.parametrize("text", ["__import__('os')", "1+1", "eval(1)", "[x for x in y]", "lambda: 0"])
def test_code_is_never_a_value(text):
    with pytest.raises(NNError):
        parse_value(opt("floats"), text)


# --------------------------------------------------------------------------------------------------
# Parsing statements
# --------------------------------------------------------------------------------------------------

def test_parse_a_whole_script():
    program = parse("data digits  # the digits\n\nmodel cnn input=(8,8,1)\n  conv2d 10 3 padding=same\n"
                    "  flatten\n  dense 10 activation=softmax\nend\ncompile optimizer=sgd lr=0.1 "
                    "loss=categorical_crossentropy metrics=accuracy\ntrain epochs=2\n", "x.nn")
    assert [type(p).__name__ for p in program] == ["Node", "ModelBlock", "Node", "Node"]
    data, block, comp, train = program
    assert (data.name, data.sub, data.line, data.source) == ("data", "digits", 1, "data digits")
    assert block.header.values() == {"name": "cnn", "input": (8, 8, 1)}
    assert [n.name for n in block.layers] == ["conv2d", "flatten", "dense"]
    assert block.layers[0].values() == {"filters": 10, "kernel": 3, "padding": "same"}
    assert block.end.line == 7
    assert comp.values() == {"optimizer": "sgd", "lr": 0.1, "loss": "categorical_crossentropy",
                             "metrics": ("accuracy",)}
    assert train.get("epochs") == 2 and train.get("batch_size") == 32
    assert block.source.splitlines()[1] == "  conv2d 10 3 padding=same"


@pytest.mark.parametrize("line, name, sub, values", [
    ("data digits train=0.8 seed=0", "data", "digits", {"train": 0.8, "seed": 0}),
    ("data sine n=100 step=4 train=80", "data", "sine", {"n": 100, "step": 4, "train": 80}),
    ("data energies window=2 train=12", "data", "energies", {"window": 2, "train": 12}),
    ("data mnist path=~/mnist limit=100 scale=symmetric", "data", "mnist",
     {"path": "~/mnist", "limit": 100, "scale": "symmetric"}),
    ("data cifar10 /data/cifar", "data", "cifar10", {"path": "/data/cifar"}),
    ("data csv f.csv x=a,b y=c", "data", "csv", {"path": "f.csv", "x": ("a", "b"), "y": ("c",)}),
    ("data npz f.npz x=images", "data", "npz", {"path": "f.npz", "x": "images"}),
    ("window 3 layout=features", "window", None, {"size": 3, "layout": "features"}),
    ("use cnn", "use", None, {"name": "cnn"}),
    ("compile optimizer=Adam learning_rate=1e-3 loss=mse from_logits=false", "compile", None,
     {"optimizer": "adam", "lr": 1e-3, "loss": "mse", "from_logits": False}),
    ("summary cnn", "summary", None, {"name": "cnn"}),
    ("backend", "backend", None, {}),
    ("backend numba", "backend", None, {"backend": "numba"}),
    ("train epochs=3 batch=16 val_split=0.1 shuffle=no seed=4", "train", None,
     {"epochs": 3, "batch_size": 16, "validation_split": 0.1, "shuffle": False, "seed": 4}),
    ("evaluate on=test", "evaluate", None, {"on": "test"}),
    ("predict rows=3 to=out.csv", "predict", None, {"rows": 3, "to": "out.csv"}),
    ("extrapolate known=12 to=ex.png", "extrapolate", None, {"known": 12, "to": "ex.png"}),
    ("plot history to=h.png", "plot", "history", {"to": "h.png"}),
    ("plot featuremaps layer=conv2d index=3", "plot", "featuremaps", {"layer": "conv2d", "index": 3}),
    ("save weights w.npz", "save", "weights", {"file": "w.npz"}),
    ("save session s.nn", "save", "session", {"file": "s.nn"}),
    ("load weights w.npz", "load", "weights", {"file": "w.npz"}),
    ("run models/digits_cnn.nn", "run", None, {"file": "models/digits_cnn.nn"}),
    ("set seed 42", "set", "seed", {"value": 42}),
    ("help conv2d", "help", None, {"topic": "conv2d"}),
    ("layers", "layers", None, {}),
    ("quit", "quit", None, {}),
    ("exit", "quit", None, {}),
])
def test_every_statement_parses(line, name, sub, values):
    node = parse_line(line)
    assert (node.kind, node.name, node.sub) == ("statement", name, sub)
    assert {k: (v.values if isinstance(v, FloatList) else v) for k, v in node.values().items()} == values


def test_grid_defaults_are_the_lecture_grid():
    node = parse_line("grid epochs=5")
    assert len(node.get("lr")) == 7 and node.get("l2").values[0] == pytest.approx(1e-5)
    assert node.get("batch_size") == 100


@pytest.mark.parametrize("line, name, values", [
    ("dense 50 activation=relu l2=1e-4", "dense", {"units": 50, "activation": "relu", "l2": 1e-4}),
    ("Conv2D 10 (3,3) strides=2 padding=1", "conv2d", {"filters": 10, "kernel": (3, 3), "strides": 2, "padding": 1}),
    ("maxpool2d", "maxpool2d", {}),
    ("max_pooling2d pool_size=(2,2)", "maxpool2d", {"pool": (2, 2)}),
    ("reshape (7,7,-1)", "reshape", {"shape": (7, 7, -1)}),
    ("dropout 0.3", "dropout", {"rate": 0.3}),
    ("lstm 250 return_sequences=true", "lstm", {"units": 250, "return_sequences": True}),
    ("input (8,8,1)", "input", {"shape": (8, 8, 1)}),
])
def test_layer_lines(line, name, values):
    node = parse_line(line, in_block=True)
    assert (node.kind, node.name, node.values()) == ("layer", name, values)


def test_end_and_abort_inside_a_block():
    assert parse_line("end  # done", in_block=True).kind == "end"
    assert parse_line("  abort", in_block=True).kind == "abort"


# --------------------------------------------------------------------------------------------------
# Errors: each class, with its exact position
# --------------------------------------------------------------------------------------------------

def test_unknown_statement():
    err = error_of("trian epochs=3", line=4)
    assert (err.file, err.line, err.column, err.length) == ("t.nn", 4, 1, 5)
    assert err.message == "unknown statement 'trian'"
    assert err.hint.startswith("did you mean 'train'?")
    assert err.format().splitlines() == [
        "t.nn:4:1: error: unknown statement 'trian'",
        "    trian epochs=3",
        "    ^^^^^",
        "hint: did you mean 'train'?"]


def test_unknown_layer():
    err = error_of("  dens 10", in_block=True)
    assert (err.column, err.length, err.message) == (3, 4, "unknown layer 'dens'")
    assert "did you mean 'dense'?" in err.hint


def test_unknown_option():
    err = error_of("  conv2d 10 kernal=3", in_block=True)
    assert (err.column, err.length) == (13, 6)
    assert err.message == "conv2d has no option 'kernal'"
    assert err.hint.startswith("did you mean 'kernel'?")


def test_bad_choice_value_suggests_the_closest():
    err = error_of("dense 10 activation=sofmax", in_block=True)
    assert (err.column, err.length) == (21, 6)
    assert err.message == "unknown activation 'sofmax'"
    assert err.hint.startswith("did you mean 'softmax'?")


@pytest.mark.parametrize("line, column, message", [
    ("train epochs=abc", 14, "epochs must be an integer, got abc"),
    ("train epochs=2.5", 14, "epochs must be an integer, got 2.5"),
    ("train epochs=0", 14, "epochs must be a positive integer, got 0"),
    ("train shuffle=maybe", 15, "shuffle must be true or false, got maybe"),
    ("data digits train=1.5", 19, "train must be between 0 and 1 (exclusive), got 1.5"),
    ("compile loss=mse optimizer=sgdd", 28, "unknown optimizer 'sgdd'"),
    ("train epochs=", 14, "epochs= needs a value"),
    ("model m input=(8,8", 15, "'(' is never closed"),
    ("model m input=(8,0)", 15, "input sizes must be positive, got (8,0)"),
])
def test_bad_values(line, column, message):
    err = error_of(line)
    assert err.column == column
    assert err.message == message


def test_missing_required_option_points_at_the_end_of_the_line():
    err = error_of("conv2d 10   # no kernel", in_block=True)
    assert err.column == 10 and err.message.startswith("conv2d needs kernel")
    assert err.hint.startswith("usage: conv2d FILTERS KERNEL")


def test_too_many_positional_values():
    err = error_of("dense 10 20", in_block=True)
    assert (err.column, err.length) == (10, 2)
    assert "'20' is one too many" in err.message


def test_option_given_twice():
    err = error_of("train epochs=1 epochs=2")
    assert err.column == 16 and err.message == "epochs is given twice"


def test_missing_end():
    err = script_error("data digits\nmodel cnn input=(8,8,1)\n  dense 10\ncompile loss=mse\n")
    # a statement inside an open block is reported where it appears
    assert (err.line, err.column) == (4, 1)
    assert "is a statement, not a layer" in err.message and "end" in err.hint
    err = script_error("data digits\nmodel cnn\n  dense 10\n")
    assert (err.file, err.line, err.column, err.length) == ("s.nn", 2, 1, 5)
    assert err.message == "model 'cnn' is never closed"


def test_end_without_block():
    err = script_error("data digits\nend\n")
    assert (err.line, err.column, err.message) == (2, 1, "'end' without a model block")


def test_layer_outside_a_block():
    err = error_of("dense 10")
    assert err.message == "'dense' is a layer; layers go inside a model block"


def test_unknown_form():
    err = error_of("plot histroy to=x.png")
    assert (err.column, err.message) == (6, "unknown plot form 'histroy'")
    assert err.hint.startswith("did you mean 'history'?")
    err = error_of("data")
    assert err.message.startswith("data needs one of: digits, sine")


def test_line_must_start_with_a_word():
    err = error_of("epochs=3")
    assert err.column == 1 and "expected a statement" in err.message
    err = error_of("(1,2)", in_block=True)
    assert "expected a layer name" in err.message


def test_errors_carry_the_file_and_line_of_scripts():
    err = script_error("# header\n\ndata digits trian=0.5\n", file="lecture.nn")
    assert err.format().startswith("lecture.nn:3:13: error: data digits has no option 'trian'")


def test_check_line_for_a_validator():
    assert check_line("train epochs=3") is None
    assert check_line("dense 10", in_block=True) is None
    assert isinstance(check_line("dense 10"), NNError)


def test_did_you_mean_helpers():
    assert closest("sofmax", ["relu", "softmax"]) == ["softmax"]
    assert did_you_mean("Relu", ["relu", "tanh"], "activations") == "did you mean 'relu'? valid activations: relu, tanh"
    assert closest("zzzz", ["relu"]) == []


# --------------------------------------------------------------------------------------------------
# Completion context
# --------------------------------------------------------------------------------------------------

def test_completion_context():
    ctx = completion_context("tr")
    assert (ctx.kind, ctx.prefix, ctx.start) == ("statement", "tr", 0)
    assert completion_context("  de", in_block=True).kind == "layer"
    ctx = completion_context("data ")
    assert ctx.kind == "subcommand" and ctx.spec.name == "data"
    ctx = completion_context("conv2d 10 kernel=3 pad", in_block=True)
    assert ctx.kind == "option" and ctx.prefix == "pad" and "kernel" in ctx.used
    ctx = completion_context("conv2d 10 kernel=3 padding=sa", in_block=True)
    assert (ctx.kind, ctx.option.name, ctx.prefix, ctx.start) == ("value", "padding", "sa", 27)
    ctx = completion_context("compile metrics=accuracy,m")
    assert (ctx.kind, ctx.prefix) == ("value", "m")
    ctx = completion_context("run mod")
    assert ctx.kind == "option" and ctx.positional.takes_path
    ctx = completion_context("plot history to=di")
    assert ctx.kind == "value" and ctx.option.takes_path
    ctx = completion_context("backend ")
    assert ctx.positional.name == "backend" and "numpy" in ctx.positional.choices
    assert completion_context("train # x").kind == "none"


# --------------------------------------------------------------------------------------------------
# Fuzzing: only NNError ever escapes the parser; the tokenizer and completion never raise
# --------------------------------------------------------------------------------------------------

_WORDS = (lookup.all_heads() + lookup.layer_heads() + lookup.block_keywords()
          + [k for _, f in lookup.iter_forms() for k in lookup.option_keys(f)]
          + ["digits", "history", "weights", "seed", "=", "(", ")", "[", "]", ",", "#", '"', "'", "logspace(",
             "1e-4", "-1", "3", "(8,8,1)", "relu", "same", "x.png", "\t", " ", "  ", "1e999", "nan", "0x10"])


@st.composite
def nn_lines(draw):
    parts = draw(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=8))
    seps = draw(st.lists(st.sampled_from(["", " ", "=", ",", "  "]), min_size=len(parts), max_size=len(parts)))
    return "".join(p + s for p, s in zip(parts, seps))


def _assert_parser_total(text):
    tokens = tokenize_line(text.split("\n")[0])
    assert "".join(t.text for t in tokens) == text.split("\n")[0]
    for in_block in (False, True):
        try:
            parse_line(text, 1, "f.nn", in_block=in_block)
        except NNError as err:
            assert err.format()
        completion_context(text, in_block)
    try:
        parse(text, "f.nn")
    except NNError as err:
        assert err.format()
    lex_lines(text.splitlines())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_fuzz_arbitrary_text(text):
    _assert_parser_total(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nn_lines())
def test_fuzz_language_like_lines(text):
    _assert_parser_total(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(nn_lines(), max_size=6))
def test_fuzz_scripts(lines):
    _assert_parser_total("\n".join(["model m"] + lines))
