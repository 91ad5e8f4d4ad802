"""The one registry of the `.nn` language: statements, layers, their options and the value sets.

The parser (`shell.language`), the interpreter, `help`, `layers` and the prompt's highlighter,
completer and validator all read this module; nothing is listed twice. Value sets that the engine
already defines (activations, optimizers, losses, metrics, backends) are read from the engine.

Questions a completer can ask (all cheap, no disk, no model evaluation):

    statement_names()                  statements allowed at the start of a line (with aliases: all_heads)
    layer_names()                      layer names allowed inside a `model NAME ... end` block
    block_keywords()                   `end` and `abort` (inside a block)
    find_statement(word) / find_layer(word)      spec or None (case-insensitive, aliases accepted)
    options_for(spec)                  the Option objects of a statement form or a layer
    find_option(spec, key)             Option or None (aliases accepted)
    values_for(option)                 the words a choice-like option accepts ('' when free-form)
    option.takes_path                  whether to complete file names
    spec.subcommands                   the forms of `data`, `plot`, `gan`, `demo`, `save`, `load`, `set`

Option kinds (`Option.kind`): int, float, str, bool, choice, path, shape, floats (a list of floats,
also `logspace(a,b,n)` / `linspace(a,b,n)`), size (an int or a pair), names (one or more words from
a value set, comma separated), columns (column names, indices or ranges like 0:64), padding
(valid/same or an int), name (an identifier), range (two numbers, low < high: `(0.5,1)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

# --------------------------------------------------------------------------------------------------
# Value sets (read from the engine where it defines them)
# --------------------------------------------------------------------------------------------------


def _activations() -> tuple[str, ...]:
    from engine.layers import ACTIVATION_NAMES
    return tuple(ACTIVATION_NAMES)


def _optimizers() -> tuple[str, ...]:
    from engine import optimizers
    return tuple(sorted(optimizers.BY_NAME))


def _losses() -> tuple[str, ...]:
    from engine import losses
    return tuple(losses.BY_NAME)


def _metrics() -> tuple[str, ...]:
    from engine import metrics
    names = ["accuracy", *metrics.SCORES, *metrics.ALIASES]
    return tuple(dict.fromkeys(names))


def _edge_filters() -> tuple[str, ...]:
    from engine.lecture.experiments import EDGE_FILTERS
    return tuple(EDGE_FILTERS)


def _kernel_ops() -> tuple[str, ...]:
    from engine.tools.kernel_source import op_names
    return op_names()


def _backends() -> tuple[str, ...]:
    from engine.backends import backend_names
    return tuple(backend_names())


PADDINGS = ("valid", "same")
RECURRENT_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
SPLITS = ("train", "test")
EVAL_SPLITS = ("both", "train", "test")
LAYOUTS = ("steps", "features")
SCALES = ("unit", "symmetric", "none")
SERIES_FORMATS = ("windows", "standard")
VALIDATION_DATA = ("none", "test")

#: name -> tuple of words or a zero-argument function returning them (dynamic sets come from the engine).
VALUE_SETS: dict[str, tuple[str, ...] | Callable[[], tuple[str, ...]]] = {
    "activations": _activations,
    "recurrent_activations": RECURRENT_ACTIVATIONS,
    "optimizers": _optimizers,
    "losses": _losses,
    "metrics": _metrics,
    "paddings": PADDINGS,
    "backends": _backends,
    "kernel_ops": _kernel_ops,
    "splits": SPLITS,
    "eval_splits": EVAL_SPLITS,
    "layouts": LAYOUTS,
    "scales": SCALES,
    "series_formats": SERIES_FORMATS,
    "validation_data": VALIDATION_DATA,
    "edge_filters": _edge_filters,
    "layers": lambda: tuple(layer_heads()),
    "topics": lambda: tuple(dict.fromkeys([*help_topics(), *(word for name in _WORD_SETS
                                                              for word in value_set(name))])),
}

#: the value sets whose words `help` explains
_WORD_SETS = ("activations", "optimizers", "losses", "metrics", "paddings", "backends")

_VALUE_CACHE: dict[str, tuple[str, ...]] = {}


def value_set(name: str) -> tuple[str, ...]:
    """The words of value set `name` (engine-defined sets are read once)."""
    if name not in _VALUE_CACHE:
        source = VALUE_SETS[name]
        _VALUE_CACHE[name] = tuple(source() if callable(source) else source)
    return _VALUE_CACHE[name]


# --------------------------------------------------------------------------------------------------
# Value checks (each returns an error message or None; `describe` is shown in help)
# --------------------------------------------------------------------------------------------------

def _check(describe: str, test: Callable[[Any], bool]):
    def check(value):
        return None if test(value) else f"must be {describe}"
    check.describe = describe
    return check


POSITIVE = _check("a positive integer", lambda v: v >= 1)
NON_NEGATIVE = _check("zero or more", lambda v: v >= 0)
OPEN_FRACTION = _check("between 0 and 1 (exclusive)", lambda v: 0 < v < 1)
FRACTION_OR_ONE = _check("greater than 0 and at most 1", lambda v: 0 < v <= 1)
RATE = _check("at least 0 and below 1", lambda v: 0 <= v < 1)
VALIDATION = _check("at least 0 and below 1", lambda v: 0 <= v < 1)
POSITIVE_FLOAT = _check("greater than 0", lambda v: v > 0)
UNIT_INTERVAL = _check("between 0 and 1", lambda v: 0 <= v <= 1)


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------

KINDS = ("int", "float", "str", "bool", "choice", "path", "shape", "floats", "size", "names", "columns",
         "padding", "name", "range")

_KIND_PLACEHOLDER = {
    "int": "N", "float": "X", "str": "TEXT", "bool": "true|false", "choice": "NAME", "path": "FILE",
    "shape": "(D,...)", "floats": "LIST", "size": "K|(KH,KW)", "names": "NAME[,NAME]",
    "columns": "COLS", "padding": "valid|same|P", "name": "NAME", "range": "(LO,HI)",
}


@dataclass(frozen=True)
class Option:
    """One option of a statement or layer.

    positional: may also be written without `key=`, in declaration order (`dense 10` = `dense units=10`).
    values: the name of a value set in VALUE_SETS (for choice/names/padding kinds) or a tuple of words.
    keras: the engine constructor keyword this option sets (layers only); to_engine converts the value.
    """

    name: str
    kind: str
    help: str
    default: Any = None
    values: str | tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    positional: bool = False
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    keras: str | None = None
    to_engine: Callable[[Any], Any] | None = None
    suffixes: tuple[str, ...] = ()      # file suffixes a path option expects (for completion and help)
    refers: str | None = None           # "model" or "layer": the value names something the session defined
    allow_negative_one: bool = False    # shape kind: -1 may stand for "the rest" (reshape)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    @property
    def takes_path(self) -> bool:
        return self.kind == "path"

    @property
    def choices(self) -> tuple[str, ...]:
        """The words this option accepts ('' tuple when free-form)."""
        if self.values is None:
            return PADDINGS if self.kind == "padding" else ()
        return value_set(self.values) if isinstance(self.values, str) else tuple(self.values)

    @property
    def placeholder(self) -> str:
        if self.kind == "choice" and self.values is not None and len(self.choices) <= 4:
            return "|".join(self.choices)
        if self.kind == "path" and self.suffixes:
            return "FILE" + self.suffixes[0]
        return _KIND_PLACEHOLDER[self.kind]

    def describe_default(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "-"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple):
            return "(" + ",".join(str(v) for v in self.default) + ")"
        return str(self.default)


@dataclass(frozen=True)
class Command:
    """A statement (or one form of it, e.g. `data digits`, `plot history`)."""

    name: str
    help: str
    options: tuple[Option, ...] = ()
    example: str = ""
    aliases: tuple[str, ...] = ()
    subcommands: tuple["Command", ...] = ()
    opens_block: bool = False
    records: bool = True          # goes into the session transcript (`save session`)
    computes: bool = False        # reports its time
    pages: bool = False           # long output: through the pager at the prompt (never in scripts)
    details: str = ""
    parent: str = ""              # the statement a form belongs to ('' for statements)

    @property
    def full_name(self) -> str:
        return f"{self.parent} {self.name}" if self.parent else self.name

    def usage(self) -> str:
        if self.subcommands:
            forms = "|".join(s.name for s in self.subcommands)
            return f"{self.name} {forms} ..."
        return _usage(self.full_name, self.options)

    def find_subcommand(self, word: str) -> "Command | None":
        word = word.lower()
        for sub in self.subcommands:
            if word == sub.name or word in sub.aliases:
                return sub
        return None


@dataclass(frozen=True)
class LayerSpec:
    """A layer a `model` block accepts: typed name -> engine class, options -> constructor keywords."""

    name: str
    keras: str                    # class name in engine.layers ("InputLayer" for the `input` line)
    help: str
    options: tuple[Option, ...]
    example: str
    example_input: tuple[int, ...]
    aliases: tuple[str, ...] = ()
    shape_rule: str = ""

    def usage(self) -> str:
        return _usage(self.name, self.options)

    def engine_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Constructor keywords for the options the user gave (the engine fills in Keras's defaults)."""
        kwargs = {}
        for opt in self.options:
            if opt.name in values and opt.keras:
                value = values[opt.name]
                kwargs[opt.keras] = opt.to_engine(value) if opt.to_engine else value
        return kwargs

    def build(self, values: dict[str, Any], name: str | None = None):
        """The engine layer for these option values."""
        from engine import layers
        kwargs = self.engine_kwargs(values)
        if name is not None and "name" not in kwargs:
            kwargs["name"] = name
        return getattr(layers, self.keras)(**kwargs)


def _usage(head: str, options) -> str:
    parts = [head]
    for opt in options:
        if opt.positional:
            token = opt.name.upper()
            parts.append(token if opt.required else f"[{token}]")
    for opt in options:
        if not opt.positional:
            token = f"{opt.name}={opt.placeholder}"
            parts.append(token if opt.required else f"[{token}]")
    return " ".join(parts)


def _l2(value):
    if not value:
        return None
    from engine import regularizers
    return regularizers.L2(value)


# --- shared option factories ---------------------------------------------------------------------------

def _activation(default="linear", values="activations"):
    return Option("activation", "choice", "activation applied to the output", default=default, values=values,
                  keras="activation")


_USE_BIAS = Option("use_bias", "bool", "add a bias vector", default=True, aliases=("bias",), keras="use_bias")
_L2 = Option("l2", "float", "L2 penalty λ·Σw² on the kernel (kernel_regularizer=l2(λ))", default=0.0,
             check=NON_NEGATIVE, keras="kernel_regularizer", to_engine=_l2, aliases=("lmbd", "lambda"))
_NAME = Option("name", "name", "the layer's name in summary (default: Keras-style dense, dense_1, ...)",
               keras="name")
_FILTERS = Option("filters", "int", "number of output channels", positional=True, required=True, check=POSITIVE,
                  keras="filters")
_KERNEL = Option("kernel", "size", "kernel size k or (kh,kw)", positional=True, required=True,
                 aliases=("kernel_size", "size"), check=POSITIVE, keras="kernel_size")
_STRIDES = Option("strides", "size", "step of the window", default=1, aliases=("stride",), check=POSITIVE,
                  keras="strides")
_RETURN_SEQ = Option("return_sequences", "bool", "output every time step (N, T, units), not only the last",
                     default=False, aliases=("sequences",), keras="return_sequences")


def _recurrent(name, keras, help_text, params, aliases=()):
    return LayerSpec(
        name, keras, help_text,
        (Option("units", "int", "size of the hidden state", positional=True, required=True, check=POSITIVE,
                keras="units"),
         _activation("tanh", "recurrent_activations"), _RETURN_SEQ, _USE_BIAS, _L2, _NAME),
        example=f"{name} 32 return_sequences=true", example_input=(10, 3), aliases=aliases,
        shape_rule=f"(N, T, F) -> (N, units), or (N, T, units) with return_sequences; params {params}")


def _pool(name, keras, help_text, aliases):
    return LayerSpec(
        name, keras, help_text,
        (Option("pool", "size", "window size", default=2, positional=True, aliases=("pool_size", "size"),
                check=POSITIVE, keras="pool_size"),
         Option("strides", "size", "step of the window (default: the pool size)", aliases=("stride",),
                check=POSITIVE, keras="strides"),
         Option("padding", "choice", "'valid' drops leftover rows/columns, 'same' pads", default="valid",
                values="paddings", keras="padding"),
         _NAME),
        example=f"{name} 2", example_input=(8, 8, 3), aliases=aliases,
        shape_rule="valid: floor((H - pool) / s) + 1; same: ceil(H / s); channels unchanged; no params")


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "input", "InputLayer", "declare the model's input shape (without the batch axis); first line only",
        (Option("shape", "shape", "input shape without the batch axis, e.g. (8,8,1)", positional=True,
                required=True, check=None, keras="shape"),),
        example="input (8,8,1)", example_input=(8, 8, 1),
        shape_rule="(N, *shape); no params"),
    LayerSpec(
        "dense", "Dense", "fully connected: y = activation(x·W + b) on the last axis",
        (Option("units", "int", "number of outputs", positional=True, required=True, check=POSITIVE,
                keras="units"),
         _activation(), _USE_BIAS, _L2, _NAME),
        example="dense 50 activation=relu l2=1e-4", example_input=(160,), aliases=("fc", "linear"),
        shape_rule="(N, ..., F) -> (N, ..., units); params F·units + units"),
    LayerSpec(
        "conv2d", "Conv2D", "2-D convolution (cross-correlation) over (N, H, W, C) images",
        (_FILTERS, _KERNEL, _STRIDES,
         Option("padding", "padding", "'valid' (none), 'same' (TF: extra row/column at the end) or an int",
                default="valid", values="paddings", keras="padding"),
         Option("dilation", "size", "spacing between kernel taps", default=1, aliases=("dilation_rate",),
                check=POSITIVE, keras="dilation_rate"),
         _activation(), _USE_BIAS, _L2, _NAME),
        example="conv2d 10 kernel=3 padding=same activation=relu l2=1e-4", example_input=(8, 8, 1),
        aliases=("conv", "convolution2d"),
        shape_rule="same: ceil(H / s); valid: floor((H - k_eff) / s) + 1 with k_eff = (k-1)·d + 1; "
                   "params kh·kw·C·filters + filters"),
    LayerSpec(
        "conv2d_transpose", "Conv2DTranspose", "transposed convolution (upsampling, the adjoint of a strided conv)",
        (_FILTERS, _KERNEL, _STRIDES,
         Option("padding", "choice", "'valid' or 'same'", default="valid", values="paddings", keras="padding"),
         _activation(), _USE_BIAS, _L2, _NAME),
        example="conv2d_transpose 64 kernel=5 strides=2 padding=same use_bias=false", example_input=(7, 7, 128),
        aliases=("deconv2d", "conv2dtranspose"),
        shape_rule="same: H·s; valid: (H - 1)·s + k; params kh·kw·C·filters + filters"),
    _pool("maxpool2d", "MaxPooling2D", "maximum over each pool window", ("maxpool", "max_pooling2d",
                                                                         "maxpooling2d")),
    _pool("avgpool2d", "AveragePooling2D", "mean over each pool window", ("avgpool", "average_pooling2d",
                                                                         "averagepooling2d")),
    LayerSpec("flatten", "Flatten", "flatten every axis but the batch axis", (_NAME,), example="flatten",
              example_input=(4, 4, 10), shape_rule="(N, a, b, ...) -> (N, a·b·...); no params"),
    LayerSpec(
        "reshape", "Reshape", "reshape the non-batch axes (one entry may be -1)",
        (Option("shape", "shape", "target shape without the batch axis, e.g. (7,7,256)", positional=True,
                required=True, aliases=("target_shape",), keras="target_shape", allow_negative_one=True),
         _NAME),
        example="reshape (7,7,256)", example_input=(12544,), shape_rule="(N, ...) -> (N, *shape); no params"),
    LayerSpec(
        "dropout", "Dropout", "randomly zero a fraction of the inputs while training (inverted dropout)",
        (Option("rate", "float", "fraction of inputs to drop", positional=True, required=True, check=RATE,
                keras="rate"),
         Option("seed", "int", "own random seed for the masks", check=NON_NEGATIVE, keras="seed"),
         _NAME),
        example="dropout 0.3", example_input=(14, 14, 64), shape_rule="shape unchanged; no params"),
    LayerSpec(
        "batchnorm", "BatchNormalization", "normalise the last axis (batch statistics when training)",
        (Option("momentum", "float", "momentum of the moving statistics", default=0.99, check=UNIT_INTERVAL,
                keras="momentum"),
         Option("epsilon", "float", "added to the variance", default=0.001, check=POSITIVE_FLOAT, keras="epsilon"),
         _NAME),
        example="batchnorm", example_input=(7, 7, 256), aliases=("batch_norm", "batchnormalization",
                                                                  "batch_normalization"),
        shape_rule="shape unchanged; params 4·C (gamma, beta trainable; moving mean/variance not)"),
    LayerSpec(
        "leaky_relu", "LeakyReLU", "f(x) = x for x >= 0, slope·x otherwise",
        (Option("slope", "float", "slope for negative inputs", default=0.3, positional=True,
                aliases=("negative_slope", "alpha"), check=NON_NEGATIVE, keras="negative_slope"),
         _NAME),
        example="leaky_relu 0.2", example_input=(7, 7, 64), aliases=("leakyrelu", "leaky_re_lu"),
        shape_rule="shape unchanged; no params"),
    LayerSpec(
        "activation", "Activation", "apply an activation function as its own layer",
        (Option("activation", "choice", "the function", positional=True, required=True, values="activations",
                keras="activation"),
         _NAME),
        example="activation tanh", example_input=(10,), shape_rule="shape unchanged; no params"),
    _recurrent("simple_rnn", "SimpleRNN", "Elman RNN: h_t = activation(x_t·W + h_{t-1}·U + b)",
               "F·u + u·u + u", aliases=("rnn", "simplernn")),
    _recurrent("lstm", "LSTM", "LSTM (gates i, f, c, o; forget-gate bias starts at 1)", "4·(F·u + u·u + u)"),
    _recurrent("gru", "GRU", "GRU, reset_after=True (gates z, r, h; bias (2, 3u))", "3·(F·u + u·u + 2u)"),
)


# --------------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------------

def _model_option():
    return Option("model", "name", "which model (default: the current one)", refers="model")


_OUT_NOTE = " (a relative path goes into the output folder, see `set out`)"
_TO_PNG = Option("to", "path", "PNG file to write" + _OUT_NOTE, suffixes=(".png",), aliases=("file", "path"))
_SEED = Option("seed", "int", "random seed", default=0, check=NON_NEGATIVE)
_TERM = Option("term", "bool", "also draw the curves in the terminal as text (Braille on a terminal, ASCII in "
               "logs and pipes); without to= only the text chart is drawn, no PNG", default=False,
               aliases=("text",))
_DIGITS_CNN = ("data digits\nmodel cnn\n  conv2d 10 kernel=3 padding=same activation=relu\n  maxpool2d 2\n"
               "  flatten\n  dense 10 activation=softmax\nend\n")

_DOWNLOAD_OPTIONS = (   # data mnist / data cifar10 without path=: the data folder, filled on first use
    Option("mirror", "str", "base URL to download from instead of the official ones; a list in quotes: "
           "\"URL1,URL2\" (default: $NNLAB_DATA_MIRROR)", aliases=("mirrors",)),
    Option("download", "bool", "download missing files (false, or NNLAB_OFFLINE=1: never use the network)",
           default=True))
DATA_FORMS = (
    Command("digits", "scikit-learn's 8x8 digits (1797 images, values 0-16, not rescaled), the lecture's split",
            (Option("train", "float", "fraction used for training", default=0.8, check=OPEN_FRACTION,
                    aliases=("split", "train_fraction", "train_size")),
             Option("seed", "int", "seed of the split (the lecture: np.random.seed(0))", default=0,
                    check=NON_NEGATIVE),
             Option("one_hot", "bool", "one-hot labels (N, 10) (false: integer labels)", default=True)),
            example="data digits train=0.8 seed=0", parent="data", computes=True),
    Command("sine", "the noisy sine sin(0.02 t) + 2·U[0,1) windowed as in the SimpleRNN example: "
                    "(N, 1, step) inputs",
            (Option("n", "int", "number of points", default=1000, check=POSITIVE),
             Option("train", "int", "points used for training (Tp)", default=800, check=POSITIVE,
                    aliases=("train_size", "tp")),
             Option("step", "int", "window length (features per sample)", default=4, check=POSITIVE,
                    aliases=("window",)),
             _SEED),
            example="data sine n=1000 step=4 train=800", parent="data", computes=True),
    Command("energies", "the lecture's many-body energies series (20 points); windows of (window, 1)",
            (Option("window", "int", "inputs per sample (length_of_sequence)", default=2, check=POSITIVE,
                    aliases=("length_of_sequence", "step")),
             Option("train", "int", "known points used for training (dim)", default=12, check=POSITIVE,
                    aliases=("dim", "known")),
             Option("path", "path", "CSV file with header x,y (default: data/energies.csv)", suffixes=(".csv",)),
             Option("format", "choice", "windows: samples are `window` consecutive y values -> the next y "
                    "(format_data); standard: x -> y, each sample one x value as a sequence of length 1, "
                    "(N, 1, 1), the first `train` points for training and the rest as test", default="windows",
                    values="series_formats", aliases=("formatting",))),
            example="data energies window=2 train=12", parent="data", computes=True,
            details="The lecture trains on dim = 12 points. With format=windows (its main examples) "
                    "window=2 gives 10 samples (10, 2, 1); with format=standard (its last example) 12 "
                    "samples x (12, 1, 1) -> y and 8 test samples."),
    Command("mnist", "MNIST from the four IDX files, downloaded into the data folder on first use",
            (Option("path", "path", "folder with the four IDX files (default: $NNLAB_DATA or ~/.nnlab/data)",
                    positional=True),
             Option("limit", "int", "use only the first N training and N test images", check=POSITIVE),
             Option("scale", "choice", "unit: x/255, symmetric: (x-127.5)/127.5, none: raw 0-255",
                    default="unit", values="scales"),
             Option("one_hot", "bool", "one-hot labels", default=False), *_DOWNLOAD_OPTIONS),
            example="data mnist path=data/mnist limit=1000", parent="data", computes=True),
    Command("cifar10", "CIFAR-10 from the binary batches, downloaded into the data folder on first use",
            (Option("path", "path", "folder cifar-10-batches-bin (default: $NNLAB_DATA or ~/.nnlab/data)",
                    positional=True),
             Option("limit", "int", "use only the first N training and N test images", check=POSITIVE),
             Option("scale", "choice", "unit: x/255 (the lecture), symmetric, none", default="unit",
                    values="scales"),
             Option("one_hot", "bool", "one-hot labels", default=False), *_DOWNLOAD_OPTIONS),
            example="data cifar10 path=data/cifar-10-batches-bin limit=500", parent="data", computes=True),
    Command("csv", "arrays from a CSV file: x= and y= name columns (names, indices, ranges a:b); "
                   "series=COLUMN loads one column as a series for `window`",
            (Option("path", "path", "the CSV file", positional=True, required=True, suffixes=(".csv",)),
             Option("x", "columns", "input columns (default: all but y)"),
             Option("y", "columns", "target columns (default: the last column)"),
             Option("series", "columns", "one column read as a series (then use `window`)"),
             Option("train", "float", "fraction used for training (the first rows)", default=0.8,
                    check=FRACTION_OR_ONE, aliases=("split",))),
            example="data csv data/energies.csv series=y train=0.6", parent="data", computes=True),
    Command("npz", "arrays from an .npz file (never pickled): keys x, y (or x_train, y_train, x_test, y_test)",
            (Option("path", "path", "the .npz file", positional=True, required=True, suffixes=(".npz",)),
             Option("x", "str", "key of the inputs (default x or x_train)"),
             Option("y", "str", "key of the targets (default y or y_train)"),
             Option("x_test", "str", "key of the test inputs (default x_test if present)"),
             Option("y_test", "str", "key of the test targets (default y_test if present)"),
             Option("train", "float", "fraction used for training when there are no test keys", default=0.8,
                    check=FRACTION_OR_ONE, aliases=("split",))),
            example="data npz arrays.npz x=images y=labels", parent="data", computes=True),
)

PLOT_FORMS = (
    Command("history", "loss and metrics per epoch of the current model (all its training so far)",
            (_TO_PNG, Option("title", "str", "figure title"), _model_option(),
             Option("ylim", "range", "y range of the metrics plot (the loss plot when there are no metrics), "
                    "e.g. (0.5,1) as the lecture's plt.ylim([0.5, 1])"), _TERM),
            example="plot history to=history.png ylim=(0.5,1) term=true", parent="plot", computes=True),
    Command("predictions", "the series and the model's prediction (after `extrapolate`, or predict on a series)",
            (_TO_PNG, Option("title", "str", "figure title"), _model_option(), _TERM),
            example="plot predictions to=predictions.png term=true", parent="plot", computes=True),
    Command("grid", "the two heatmaps (train and test accuracy) of the last `grid`",
            (_TO_PNG,), example="plot grid to=grid.png", parent="plot", computes=True),
    Command("images", "a grid of input images with their labels",
            (_TO_PNG, Option("count", "int", "how many images", default=16, check=POSITIVE),
             Option("on", "choice", "which part of the data", default="train", values="splits")),
            example="plot images to=images.png count=16", parent="plot", computes=True),
    Command("filters", "the kernels of a conv2d layer, one tile per filter",
            (_TO_PNG, Option("layer", "name", "layer name (default: the first conv2d)", refers="layer"),
             _model_option()),
            example="plot filters to=filters.png", parent="plot", computes=True),
    Command("featuremaps", "a layer's output for one input image, one tile per channel",
            (_TO_PNG, Option("layer", "name", "layer name (default: the first conv2d)", refers="layer"),
             Option("index", "int", "which image", default=0, check=NON_NEGATIVE),
             Option("on", "choice", "which part of the data", default="test", values="splits"), _model_option()),
            example="plot featuremaps to=maps.png index=0", parent="plot", computes=True),
    Command("samples", "images made by a generator model from random noise (the GAN's 4x4 grid)",
            (_TO_PNG, _model_option(),
             Option("count", "int", "how many images (the lecture: 16)", default=16, check=POSITIVE),
             Option("seed", "int", "seed of the noise (the same seed gives the same noise, to compare epochs)",
                    default=0, check=NON_NEGATIVE),
             Option("means", "float", "latent exploration: noise column k ~ N(means·m_k, (stds·m_k)^2), "
                    "m = linspace(-1,1,noise) (the lecture's generate_latent_points); default N(0, 1)",
                    aliases=("scale_means",)),
             Option("stds", "float", "latent exploration: scale of the standard deviations (with means=)",
                    aliases=("scale_stds",)),
             Option("title", "str", "figure title")),
            example="plot samples model=generator count=16 to=samples.png", parent="plot", computes=True),
)

STATEMENTS: tuple[Command, ...] = (
    Command("data", "load a data set (becomes the data for train, evaluate, predict, grid)",
            subcommands=DATA_FORMS, example="data digits", computes=True),
    Command("window", "cut the current series into windows: samples of SIZE values, target the next one",
            (Option("size", "int", "values per window", positional=True, required=True, check=POSITIVE,
                    aliases=("window", "step")),
             Option("train", "int", "points of the series used for training windows (default: as loaded)",
                    check=POSITIVE),
             Option("layout", "choice", "steps: (N, size, 1) time steps; features: (N, 1, size)", default="steps",
                    values="layouts")),
            example="data energies\nwindow 3 train=12", computes=True),
    Command("model", "define a model: one layer per line, closed by `end`; each line echoes its output shape",
            (Option("name", "name", "the model's name", positional=True, required=True),
             Option("input", "shape", "input shape without the batch axis (default: the data's)",
                    aliases=("input_shape", "shape")),
             Option("extend", "bool", "add the block's layers to the end of the existing model NAME instead of "
                    "replacing it (Keras's model.add after a summary)", default=False, aliases=("add",))),
            example="model cnn input=(8,8,1)\n  conv2d 10 kernel=3 padding=same activation=relu\n"
                    "  maxpool2d 2\nend\nsummary\nmodel cnn extend=true\n  flatten\n  dense 10 activation=softmax\n"
                    "end\nsummary",
            opens_block=True, details="Inside the block: layer lines (see `layers`), `end` to finish, "
                                      "`abort` to discard the model (or, with extend=true, the added layers) "
                                      "at the prompt."),
    Command("use", "make another defined model the current one",
            (Option("name", "name", "a model defined earlier", positional=True, required=True, refers="model"),),
            example="model a input=(4,)\n  dense 2\nend\nmodel b input=(4,)\n  dense 3\nend\nuse a"),
    Command("compile", "choose optimizer, learning rate, loss and metrics for the current model",
            (Option("optimizer", "choice", "the optimizer", default="rmsprop", values="optimizers",
                    aliases=("opt",)),
             Option("lr", "float", "learning rate (default: the optimizer's Keras default)",
                    aliases=("learning_rate", "eta"), check=NON_NEGATIVE),
             Option("momentum", "float", "momentum (sgd, rmsprop)", check=UNIT_INTERVAL),
             Option("nesterov", "bool", "Nesterov momentum (sgd)"),
             Option("loss", "choice", "the loss", required=True, values="losses"),
             Option("metrics", "names", "metrics reported while training", values="metrics",
                    aliases=("metric",)),
             Option("from_logits", "bool", "the model outputs logits (no softmax/sigmoid)", default=False),
             _model_option()),
            example="model m input=(4,)\n  dense 3 activation=softmax\nend\n"
                    "compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy"),
    Command("summary", "the Keras summary table of a model",
            (Option("name", "name", "model name (default: the current one)", positional=True, refers="model"),),
            example="model m input=(4,)\n  dense 3\nend\nsummary", pages=True),
    Command("backend", "list the backends, or switch to one",
            (Option("backend", "choice", "backend to use", positional=True, values="backends", aliases=("name",)),),
            example="backend numpy", computes=True),
    Command("compare", "run each layer forward + backward on several backends: time, speed-up and the "
                       "largest differences from the numpy backend",
            (Option("backends", "names", "backends to compare (default: every one available here); numpy, "
                    "the reference, always runs", values="backends", aliases=("backend",)),
             Option("layer", "name", "one layer (default: every layer of the model)", refers="layer"),
             Option("repeat", "int", "timed runs per backend, after one warm-up (the median is shown)", default=3,
                    check=POSITIVE),
             Option("batch", "int", "samples in the input batch", default=32, check=POSITIVE,
                    aliases=("batch_size",)),
             _model_option()),
            example=f"{_DIGITS_CNN}compare backends=numpy,numba repeat=3", computes=True,
            details="Each backend runs a copy of the layer with the same weights on the same input (the first "
                    "samples of the current data passed through the layers before it, or random numbers of "
                    "the layer's input shape) and the same output gradient. Differences are max|a - ref| / "
                    "max|ref| of the output and of every gradient (x: the input's). The model is not changed."),
    Command("kernel", "print the source of the kernels that compute an op on a backend",
            (Option("op", "choice", "a short op name or one kernel of the backend contract", positional=True,
                    required=True, values="kernel_ops"),
             Option("backend", "choice", "whose kernels (default: the current backend)", values="backends")),
            example="kernel conv2d backend=numba", records=False, pages=True,
            details="numpy and numba: the Python function of the backend's kernel table and its module; cuda "
                    "and cuda-emu: the __global__ kernels of engine/backends/cuda/kernels/*.cu with the comment "
                    "above each (formula and launch geometry)."),
    Command("gradcheck", "check every layer's backward pass against finite differences (float64)",
            (Option("layer", "name", "one layer (default: every layer of the model)", refers="layer"),
             Option("batch", "int", "samples in the random input batch", default=2, check=POSITIVE,
                    aliases=("batch_size",)),
             Option("tol", "float", "largest accepted relative error", default=1e-6, check=POSITIVE_FLOAT),
             _SEED, _model_option()),
            example=f"{_DIGITS_CNN}gradcheck", computes=True,
            details="Each layer runs on a float64 copy of its weights (the model is not changed) with random "
                    "normal input of its input shape, on the current backend; the error is "
                    "max|analytic - numeric| / (max|analytic| + max|numeric|) over the input and every weight "
                    "(engine.tools.gradcheck)."),
    Command("graph", "the recorded autodiff graph of one training step: each op, its output shape and inputs",
            (_model_option(),),
            example=f"{_DIGITS_CNN}compile optimizer=sgd loss=categorical_crossentropy\ngraph", computes=True,
            details="One training-mode forward pass and the loss on the first 4 training samples, recorded as "
                    "for `train` (engine.tools.profile.trace_graph); one row per op (the Function that ran) "
                    "in forward order. Inputs: a layer weight by name, #N for the output of step N, data for "
                    "the batch, the targets or a constant. A softmax output with cross-entropy shows as one "
                    "fused SoftmaxCrossEntropy op. The model is not changed."),
    Command("profile", "time per op of one training step (forward and backward) on the current backend",
            (Option("batch", "int", "samples in the batch", default=32, check=POSITIVE, aliases=("batch_size",)),
             _model_option()),
            example=f"{_DIGITS_CNN}compile optimizer=sgd loss=categorical_crossentropy\nprofile batch=32",
            computes=True,
            details="Runs one warm-up step, then one timed step: the loss and its backward pass on the first "
                    "`batch` training samples, without the optimizer step (engine.tools.profile.profile_step "
                    "wraps Function.apply and each op's backward only while it runs). Rows are summed per op "
                    "type, slowest first; share is of the time spent in ops. The weights are unchanged."),
    Command("train", "fit the current model on the data (Ctrl-C stops after the current batch)",
            (Option("epochs", "int", "passes over the data", default=1, check=POSITIVE),
             Option("batch_size", "int", "samples per step", default=32, check=POSITIVE, aliases=("batch",)),
             Option("validation_split", "float", "fraction at the end of the data used for validation", default=0.0,
                    check=VALIDATION, aliases=("val_split", "validation")),
             Option("validation_data", "choice", "validate on another part of the data after every epoch "
                    "(test: Keras's validation_data=(x_test, y_test)); not together with validation_split",
                    default="none", values="validation_data", aliases=("validate_on",)),
             Option("shuffle", "bool", "reshuffle every epoch", default=True),
             Option("seed", "int", "reseed the random generator first", check=NON_NEGATIVE),
             _model_option()),
            example="data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax\nend\n"
                    "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\n"
                    "train epochs=1 batch_size=100 validation_data=test", computes=True),
    Command("evaluate", "loss and metrics on the training and test data (a table)",
            (Option("on", "choice", "which data", default="both", values="eval_splits"),
             Option("batch_size", "int", "samples per step", default=32, check=POSITIVE, aliases=("batch",)),
             _model_option()),
            example="data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax\nend\n"
                    "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\nevaluate on=test",
            computes=True),
    Command("predict", "the model's output for the first rows (a table), or all rows to a CSV file",
            (Option("rows", "int", "how many rows to show", default=5, check=POSITIVE, aliases=("n",)),
             Option("on", "choice", "which data", default="test", values="splits"),
             Option("to", "path", "CSV file for all predictions" + _OUT_NOTE, suffixes=(".csv",), aliases=("file",)),
             _model_option()),
            example="data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax\nend\npredict rows=3",
            computes=True),
    Command("extrapolate", "predict a series one step at a time, feeding each prediction back (test_rnn); "
                           "prints the MSE over the whole series",
            (Option("known", "int", "true points given before predicting (default: the training points)",
                    check=POSITIVE, aliases=("n_known", "dim")),
             Option("window", "int", "inputs per prediction (default: the model's time steps)", check=POSITIVE),
             Option("to", "path", "PNG file for the plot" + _OUT_NOTE, suffixes=(".png",), aliases=("plot",)),
             Option("csv", "path", "CSV file for x, true and predicted values" + _OUT_NOTE, suffixes=(".csv",)),
             _model_option()),
            example="data energies\nmodel rnn input=(2,1)\n  simple_rnn 8\n  dense 1\nend\n"
                    "compile optimizer=adam loss=mse\nextrapolate known=12", computes=True,
            details="With windowed data (`data energies`, `window`) the first `known` points are given and "
                    "every later point is predicted from the `window` values before it, predictions fed back "
                    "(the recursion the lecture's test_rnn means; its code breaks at the second step). With "
                    "`data energies format=standard` each later point is predicted directly from its x "
                    "(the lecture's last RNN example)."),
    Command("grid", "grid search over learning rate (rows) and L2 λ (columns): train and test accuracy",
            (Option("lr", "floats", "learning rates", default="logspace(-5,1,7)", aliases=("eta", "etas")),
             Option("l2", "floats", "L2 penalties (set on every layer that has an l2 option)",
                    default="logspace(-5,1,7)", aliases=("lambda", "lambdas", "lmbd")),
             Option("epochs", "int", "epochs per cell (the lecture: 100)", default=100, check=POSITIVE),
             Option("batch_size", "int", "samples per step (the lecture: 100)", default=100, check=POSITIVE,
                    aliases=("batch",)),
             Option("to", "path", "PNG file: writes FILE_train.png and FILE_test.png heatmaps" + _OUT_NOTE,
                    suffixes=(".png",)),
             _model_option()),
            example="data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax l2=1e-4\nend\n"
                    "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\n"
                    "grid lr=0.01,0.1 l2=1e-4 epochs=1", computes=True),
    Command("gan", "train a generative adversarial network: a generator and a discriminator model",
            subcommands=(
                Command("train", "the lecture's DCGAN loop on the current data's training images: per batch, "
                                 "noise z ~ N(0,1) of batch_size rows, D loss BCE(1, D(x)) + BCE(0, D(G(z))), "
                                 "G loss BCE(1, D(G(z))) (logits), one Adam step each at the same weights",
                        (Option("generator", "name", "the generator model: input (noise,), output shaped like "
                                "the images", required=True, refers="model", aliases=("g", "gen")),
                         Option("discriminator", "name", "the discriminator model: input the images, output "
                                "(None, 1) logits", required=True, refers="model", aliases=("d", "disc")),
                         Option("epochs", "int", "passes over the images (the lecture: 30)", default=1,
                                check=POSITIVE),
                         Option("batch_size", "int", "real images per step, and the noise rows of every step "
                                "(the lecture: 256)", default=256, check=POSITIVE, aliases=("batch",)),
                         Option("noise", "int", "noise dimension (default: the generator's input size)",
                                check=POSITIVE, aliases=("noise_dim", "latent_dim")),
                         Option("lr", "float", "learning rate of both Adam optimizers", default=1e-4,
                                check=POSITIVE_FLOAT, aliases=("learning_rate",)),
                         Option("csv", "path", "CSV file for the losses per epoch (the lecture's lossfile.txt)"
                                + _OUT_NOTE, suffixes=(".csv",), aliases=("losses",))),
                        example="gan train generator=G discriminator=D epochs=30 batch_size=256 noise=100",
                        parent="gan", computes=True,
                        details="The losses per epoch go into the generator's history (`plot history "
                                "model=G`); `plot samples model=G` draws generated images. Ctrl-C stops "
                                "after the current batch and keeps both models."),
            ),
            example="data digits\n"
                    "model g input=(8,)\n  dense 64 activation=tanh\n  reshape (8,8,1)\nend\n"
                    "model d input=(8,8,1)\n  flatten\n  dense 1\nend\n"
                    "gan train generator=g discriminator=d epochs=1 batch_size=128\n"
                    "plot samples model=g count=4", computes=True),
    Command("demo", "small demonstrations from the lecture's opening (no training)",
            subcommands=(
                Command("polynomial", "multiplying polynomials is a 1-D convolution: prints the coefficients "
                                      "from np.convolve, the Toeplitz matrix T of a, T·b, and checks they agree",
                        (Option("a", "floats", "coefficients of the first polynomial, lowest power first",
                                default="(1,2)"),
                         Option("b", "floats", "coefficients of the second polynomial, lowest power first",
                                default="(3,1)"),
                         Option("to", "path", "PNG file: the coefficients of a, b and a·b against the power"
                                + _OUT_NOTE, suffixes=(".png",))),
                        example="demo polynomial a=(1,2) b=(3,1)", parent="demo", computes=True),
                Command("filters", "2-D cross-correlation of one image with hand-made 3x3 filters (edge "
                                   "detection, blur, sharpen): prints the filters and checks the engine's "
                                   "conv2d against the plain formula; plots the image and the responses",
                        (Option("index", "int", "which image of the current data (default data: digits)",
                                default=0, check=NON_NEGATIVE),
                         Option("on", "choice", "which part of the data", default="train", values="splits"),
                         Option("filters", "names", "which filters (default: all)", values="edge_filters"),
                         Option("padding", "choice", "'same' keeps the image size, 'valid' shrinks it",
                                default="same", values="paddings"),
                         Option("to", "path", "PNG file for the image and the responses; the filters go to "
                                "FILE_kernels.png" + _OUT_NOTE, suffixes=(".png",))),
                        example="demo filters index=0 to=edges.png", parent="demo", computes=True),
            ),
            example="demo polynomial a=(1,2,3) b=(4,5,6,7)", computes=True),
    Command("plot", "write a figure as PNG and print its path", subcommands=PLOT_FORMS,
            example="plot history to=history.png", computes=True),
    Command("save", "save the model's weights (.npz) or the session as a script (.nn)",
            subcommands=(
                Command("weights", "all weights of the current model to an .npz file (no pickle)",
                        (Option("file", "path", "the .npz file", positional=True, required=True, suffixes=(".npz",)),
                         _model_option()),
                        example="save weights cnn.npz", parent="save", computes=True),
                Command("session", "the accepted statements so far as a runnable .nn script",
                        (Option("file", "path", "the .nn file", positional=True, required=True,
                                suffixes=(".nn",)),),
                        example="save session mysession.nn", parent="save", records=False),
            ), example="save weights cnn.npz", records=True),
    Command("load", "load weights saved by `save weights` into the current model",
            subcommands=(
                Command("weights", "weights from an .npz file (matched by order; shapes must agree)",
                        (Option("file", "path", "the .npz file", positional=True, required=True, suffixes=(".npz",)),
                         _model_option()),
                        example="load weights cnn.npz", parent="load", computes=True),
            ), example="load weights cnn.npz"),
    Command("run", "run a .nn script in this session",
            (Option("file", "path", "the script", positional=True, required=True, suffixes=(".nn",)),),
            example="run models/digits_cnn.nn"),
    Command("set", "change a setting",
            subcommands=(
                Command("seed", "reseed the random generator (weights, shuffling, dropout)",
                        (Option("value", "int", "the seed", positional=True, required=True, check=NON_NEGATIVE),),
                        example="set seed 0", parent="set"),
                Command("out", "the folder where plots and CSV files with a relative path are written "
                               "(default: $NNLAB_OUT, else ./nnlab_out); `set out .` writes into the "
                               "current folder",
                        (Option("folder", "path", "the output folder (created when something is written)",
                                positional=True, required=True, aliases=("dir", "path")),),
                        example="set out results", parent="set"),
            ), example="set seed 0"),
    Command("help", "help on the language, a statement, a layer or an option value set",
            (Option("topic", "choice", "statement, layer, value set (activations, optimizers, losses, ...) or "
                    "one of their values", positional=True, values="topics"),),
            example="help conv2d", records=False, pages=True),
    Command("layers", "list the layers with their options",
            (Option("layer", "choice", "one layer", positional=True, values="layers", aliases=("name",)),), example="layers",
            records=False, pages=True),
    Command("quit", "leave nnlab (in a script: stop it)", example="quit", aliases=("exit",), records=False),
)

#: Words that only mean something inside a `model ... end` block.
BLOCK_KEYWORDS: dict[str, str] = {
    "end": "close the model block",
    "abort": "discard the model being defined (at the prompt)",
}


# --------------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------------

def _index(specs):
    table = {}
    for spec in specs:
        for word in (spec.name, *spec.aliases):
            table[word.lower()] = spec
    return table


_STATEMENT_INDEX = _index(STATEMENTS)
_LAYER_INDEX = _index(LAYERS)


def statement_names() -> list[str]:
    """Canonical statement names, in registry order."""
    return [s.name for s in STATEMENTS]


def all_heads() -> list[str]:
    """Every word that may start a line outside a block (names and aliases)."""
    return list(_STATEMENT_INDEX)


def layer_names() -> list[str]:
    return [spec.name for spec in LAYERS]


def layer_heads() -> list[str]:
    """Every word that may start a layer line (names and aliases)."""
    return list(_LAYER_INDEX)


def block_keywords() -> list[str]:
    return list(BLOCK_KEYWORDS)


def find_statement(word: str) -> Command | None:
    return _STATEMENT_INDEX.get(word.lower())


def find_layer(word: str) -> LayerSpec | None:
    return _LAYER_INDEX.get(word.lower())


def options_for(spec) -> tuple[Option, ...]:
    return spec.options


def find_option(spec, key: str) -> Option | None:
    for opt in spec.options:
        if key == opt.name or key in opt.aliases:
            return opt
    lowered = key.lower()
    for opt in spec.options:
        if lowered == opt.name or lowered in opt.aliases:
            return opt
    return None


def option_keys(spec) -> list[str]:
    """Every key (names and aliases) the spec accepts."""
    return [key for opt in spec.options for key in (opt.name, *opt.aliases)]


def values_for(option: Option) -> tuple[str, ...]:
    return option.choices


def help_topics() -> list[str]:
    """Everything `help` knows about."""
    return [*all_heads(), *layer_heads(), *_WORD_SETS, "language", *BLOCK_KEYWORDS]


def iter_forms():
    """Every statement form that has options: (statement, form) pairs, form being the statement itself
    or one of its subcommands."""
    for stmt in STATEMENTS:
        if stmt.subcommands:
            for sub in stmt.subcommands:
                yield stmt, sub
        else:
            yield stmt, stmt
