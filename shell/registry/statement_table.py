"""The statement table: every statement, the forms of `data` and `plot`, and the block keywords."""
from __future__ import annotations

from shell.registry.specs import (FRACTION_OR_ONE, NON_NEGATIVE, OPEN_FRACTION, POSITIVE, POSITIVE_FLOAT,
                                  UNIT_INTERVAL, VALIDATION, Command, Option, at_most)


def _model_option():
    return Option("model", "name", "which model (default: the current one)", refers="model")


_OUT_NOTE = " (a relative path goes into the output folder, see `set out`)"
_PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_TO_PNG = Option("to", "path", "PNG (or .svg, .pdf) file to write" + _OUT_NOTE, suffixes=_PLOT_SUFFIXES,
                 aliases=("file", "path"), writes="plot")
_OVERWRITE = Option("overwrite", "bool", "replace a file of that name that this session did not write (at the "
                    "prompt nnlab asks instead; in a script this is the only way)", default=False)
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
            (_TO_PNG, _OVERWRITE, Option("title", "str", "figure title"), _model_option(),
             Option("ylim", "range", "y range of the metrics plot (the loss plot when there are no metrics), "
                    "e.g. (0.5,1) as the lecture's plt.ylim([0.5, 1])"), _TERM),
            example="plot history to=history.png ylim=(0.5,1) term=true", parent="plot", computes=True),
    Command("predictions", "the series and the model's prediction (after `extrapolate`, or predict on a series)",
            (_TO_PNG, _OVERWRITE, Option("title", "str", "figure title"), _model_option(), _TERM),
            example="plot predictions to=predictions.png term=true", parent="plot", computes=True),
    Command("grid", "the two heatmaps (train and test accuracy) of the last `grid`",
            (_TO_PNG, _OVERWRITE), example="plot grid to=grid.png", parent="plot", computes=True),
    Command("images", "a grid of input images with their labels",
            (_TO_PNG, _OVERWRITE, Option("count", "int", "how many images", default=16, check=at_most("MAX_PLOT_IMAGES")),
             Option("on", "choice", "which part of the data", default="train", values="splits")),
            example="plot images to=images.png count=16", parent="plot", computes=True),
    Command("filters", "the kernels of a conv2d layer, one tile per filter",
            (_TO_PNG, _OVERWRITE, Option("layer", "name", "layer name (default: the first conv2d)", refers="layer"),
             _model_option()),
            example="plot filters to=filters.png", parent="plot", computes=True),
    Command("featuremaps", "a layer's output for one input image, one tile per channel",
            (_TO_PNG, _OVERWRITE, Option("layer", "name", "layer name (default: the first conv2d)", refers="layer"),
             Option("index", "int", "which image", default=0, check=NON_NEGATIVE),
             Option("on", "choice", "which part of the data", default="test", values="splits"), _model_option()),
            example="plot featuremaps to=maps.png index=0", parent="plot", computes=True),
    Command("samples", "images made by a generator model from random noise (the GAN's 4x4 grid)",
            (_TO_PNG, _OVERWRITE, _model_option(),
             Option("count", "int", "how many images (the lecture: 16)", default=16, check=at_most("MAX_PLOT_IMAGES")),
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
    Command("undo", "take back the last layer line of the open model block",
            example="model m input=(4,)\n  dense 3\n  dense 5\n  undo\n  dense 2\nend", records=False,
            details="Only inside `model NAME ... end`: the layer goes, and so does its line in `save session`. "
                    "`abort` discards the whole block."),
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
                    check=at_most("MAX_REPEATS")),
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
            details="The function of the backend's kernel table, then every kernel function it calls, in call "
                    "order: numba's @njit loops (_im2col, the recurrent step loops, the pooling loops) and the "
                    "vectormath overloads they use; for cuda and cuda-emu the launch code, the __global__ "
                    "kernels of engine/backends/cuda/kernels/<family>.cu with the comment above each, and the "
                    "__device__ functions they call (also from common.h). Each comes with one line on how it "
                    "runs: serial or prange threads, grid and block."),
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
             Option("checkpoint", "path", "after every epoch, save everything needed to resume to this .npz file "
                    "(weights, optimizer state, epoch, random state, history; atomic)", suffixes=(".npz",),
                    writes="checkpoint"),
             Option("resume", "path", "continue the run a checkpoint recorded (same data and settings): the "
                    "losses after resuming are those of the run never stopped; epochs= counts from its start",
                    suffixes=(".npz",)),
             _OVERWRITE, _model_option()),
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
             Option("to", "path", "CSV file for all predictions" + _OUT_NOTE, suffixes=(".csv",), aliases=("file",),
                    writes="table"),
             _OVERWRITE, _model_option()),
            example="data digits\nmodel cnn\n  flatten\n  dense 10 activation=softmax\nend\npredict rows=3",
            computes=True),
    Command("extrapolate", "predict a series one step at a time, feeding each prediction back (test_rnn); "
                           "prints the MSE over the whole series",
            (Option("known", "int", "true points given before predicting (default: the training points)",
                    check=POSITIVE, aliases=("n_known", "dim")),
             Option("window", "int", "inputs per prediction (default: the model's time steps)", check=POSITIVE),
             Option("to", "path", "PNG file for the plot" + _OUT_NOTE, suffixes=_PLOT_SUFFIXES, aliases=("plot",),
                    writes="plot"),
             Option("csv", "path", "CSV file for x, true and predicted values" + _OUT_NOTE, suffixes=(".csv",),
                    writes="table"),
             _OVERWRITE, _model_option()),
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
                    suffixes=_PLOT_SUFFIXES, writes="plot"),
             _OVERWRITE, _model_option()),
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
                                + _OUT_NOTE, suffixes=(".csv",), aliases=("losses",), writes="table"),
                         _OVERWRITE),
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
                                + _OUT_NOTE, suffixes=_PLOT_SUFFIXES, writes="plot"),
                         _OVERWRITE),
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
                                "FILE_kernels.png" + _OUT_NOTE, suffixes=_PLOT_SUFFIXES, writes="plot"),
                         _OVERWRITE),
                        example="demo filters index=0 to=edges.png", parent="demo", computes=True),
            ),
            example="demo polynomial a=(1,2,3) b=(4,5,6,7)", computes=True),
    Command("plot", "write a figure as PNG (or SVG, PDF) and print its path", subcommands=PLOT_FORMS,
            example="plot history to=history.png", computes=True),
    Command("save", "save the model's weights (.npz) or the session as a script (.nn)",
            subcommands=(
                Command("weights", "all weights of the current model to an .npz file (no pickle)",
                        (Option("file", "path", "the .npz file", positional=True, required=True, suffixes=(".npz",),
                                writes="weights"),
                         _OVERWRITE, _model_option()),
                        example="save weights cnn.npz", parent="save", computes=True),
                Command("session", "the accepted statements so far as a runnable .nn script",
                        (Option("file", "path", "the .nn file", positional=True, required=True,
                                suffixes=(".nn",), writes="session"), _OVERWRITE),
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
#: Statements that may also be used inside an open block: three that look, and `undo`.
IN_BLOCK_STATEMENTS = ("help", "layers", "summary", "undo")
