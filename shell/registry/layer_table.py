"""The layer table: every layer a `model ... end` block accepts, its options and its engine class."""
from __future__ import annotations

from shell.registry.specs import NON_NEGATIVE, POSITIVE, POSITIVE_FLOAT, RATE, UNIT_INTERVAL, LayerSpec, Option


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
         Option("center", "bool", "learn a shift beta (false: no beta weight at all)", default=True, keras="center"),
         Option("scale", "bool", "learn a scale gamma (false: no gamma weight at all)", default=True, keras="scale"),
         _NAME),
        example="batchnorm", example_input=(7, 7, 256), aliases=("batch_norm", "batchnormalization",
                                                                  "batch_normalization"),
        shape_rule="shape unchanged; params 4·C (gamma, beta trainable; moving mean/variance not), 2·C fewer "
                   "per center=false / scale=false"),
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
