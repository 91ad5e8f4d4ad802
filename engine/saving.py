"""Weights files and checkpoints: what `save_weights` and `fit(checkpoint=...)` write, and reading them back.

A weights file is an .npz archive (no pickle) with one array per weight, keyed `NNN.layer/weight`: NNN is
the weight's index in the model, so the order survives any number of arrays (keys are ordered by that
number, never as strings). Files from `numpy.savez(path, *arrays)` (keys `arr_0`, `arr_1`, ...) load too.

A checkpoint is an .npz archive holding everything a training run needs to go on as if never stopped:

    weights/NNN.layer/weight   every weight (trainable or not: batch-norm statistics too)
    slots/NNN/NAME             the optimizer's slots of weight NNN (momentum, velocity, ...)
    state                      UTF-8 JSON (as bytes): finished epochs, history, optimizer name and iteration
                               count, the random generators' states, and the fit settings

Reading is all or nothing: every array is read and checked (names, count, shapes, dtype, finite values)
and the JSON state is checked field by field before anything in the model changes. Both are written with
engine.files.write_file (atomic: an interrupted save leaves the old file whole).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import files, random
from engine.backends import array_module, to_host
from engine.files import FileError
from engine.models import ModelError

_INDEXED_KEY = re.compile(r"(\d{1,9})\.[^/]*/(.+)\Z")    # 000.dense/kernel -> (0, 'kernel')
_POSITIONAL_KEY = re.compile(r"arr_(\d{1,9})\Z")         # numpy.savez(path, *arrays)
CHECKPOINT_FORMAT = "nnlab-checkpoint"
CHECKPOINT_VERSION = 1


class WeightsFileError(FileError, ModelError):
    """A weights file or checkpoint that cannot be read: a FileError, and a ModelError as load_weights raises."""


def _read_archive(path, what: str) -> dict:
    try:
        return files.read_npz(path, what)
    except FileError as exc:
        raise WeightsFileError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Weights files
# --------------------------------------------------------------------------------------------------

def weight_keys(model) -> list[str]:
    return [f"{i:03d}.{owner.name}/{w.name}" for i, (owner, w) in enumerate(zip(model._weight_owners(), model.weights))]


def save_weights(model, path, overwrite: bool = True) -> Path:
    """Write the model's weights to `path` (.npz; a name without a suffix gets .npz, as numpy.savez does)."""
    model.require_built()
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".npz")
    arrays = dict(zip(weight_keys(model), model.get_weights()))
    return files.write_file(path, lambda handle: np.savez(handle, **arrays), "weights", overwrite=overwrite)


def load_weights(model, path) -> None:
    """Read, check and assign every weight of `path`, or change nothing."""
    model.require_built()
    arrays = _read_archive(path, "weights")
    model.set_weights(in_model_order(model, arrays, path, "weights file"), source=str(path))


def in_model_order(model, arrays: dict, path, what: str) -> list[np.ndarray]:
    """The arrays of a weights archive in model order, after checking their names: indexed keys
    (`NNN.layer/weight`, numbered 0..n-1 once each, weight names as in the model) or positional ones."""
    if not arrays:
        raise WeightsFileError(f"cannot read weights from {path}: the archive holds no arrays")
    keys = list(arrays)
    indexed = [_INDEXED_KEY.match(k) for k in keys]
    positional = [_POSITIONAL_KEY.match(k) for k in keys]
    if all(indexed):
        numbers = [int(m.group(1)) for m in indexed]
    elif all(positional):
        numbers = [int(m.group(1)) for m in positional]
    else:
        raise WeightsFileError(f"cannot read weights from {path}: it is not a {what} written by save_weights (its "
                        f"array names are not NNN.layer/weight)")
    if sorted(numbers) != list(range(len(numbers))):
        raise WeightsFileError(f"cannot read weights from {path}: its arrays are not numbered 0 to {len(numbers) - 1} "
                        f"once each (a damaged or edited {what})")
    order = sorted(range(len(keys)), key=numbers.__getitem__)
    if all(indexed):
        owners, weights = model._weight_owners(), model.weights
        for position, index in enumerate(order[:len(weights)]):
            if indexed[index].group(2) != weights[position].name:
                raise ModelError(f"{path} holds the weights of a different model: its array {position} is not a "
                                 f"'{weights[position].name}' (this model's array {position} is "
                                 f"{owners[position].name}/{weights[position].name})")
    return [arrays[keys[i]] for i in order]


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """A checkpoint read and checked against a model (nothing assigned yet)."""
    path: Path
    weights: list
    slots: list            # per weight: {slot name: array}
    iterations: int
    epoch: int             # finished epochs
    history: dict
    random_states: dict    # "engine" and layer indices (as strings) -> generator state
    settings: dict


def save_checkpoint(model, path, epoch: int, history: dict, settings: dict) -> Path:
    """Write everything `fit(..., resume=path)` needs to continue after `epoch` finished epochs."""
    optimizer = model.optimizer
    arrays = {f"weights/{key}": array for key, array in zip(weight_keys(model), model.get_weights())}
    for index, weight in enumerate(model.weights):
        for name, slot in optimizer.slots_of(weight).items():
            arrays[f"slots/{index:03d}/{name}"] = np.asarray(to_host(slot))
    rngs = {str(i): random.get_state(layer.rng) for i, layer in enumerate(model.layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": epoch,
             "history": history, "optimizer": {"name": optimizer.name, "iterations": optimizer.iterations},
             "random": {"engine": random.get_state(), **rngs}, "settings": settings}
    arrays["state"] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
    return files.write_file(path, lambda handle: np.savez(handle, **arrays), "checkpoint")


def read_checkpoint(model, path) -> Checkpoint:
    """Read `path` and check every part of it against `model` (compiled, built); assigns nothing."""
    path = Path(path)
    model.require_built()
    if model.optimizer is None:
        raise ModelError(f"model '{model.name}' is not compiled: compile it before resuming from {path}")
    arrays = _read_archive(path, "a checkpoint")
    state = _state(arrays.pop("state", None), path)
    weight_arrays = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    weights = in_model_order(model, weight_arrays, path, "checkpoint")
    model.check_weights(weights, source=str(path))
    slots = [{} for _ in model.weights]
    for key, array in arrays.items():
        match = re.fullmatch(r"slots/(\d{1,9})/(\w+)", key)
        if match is None:
            if not key.startswith("weights/"):
                raise WeightsFileError(f"cannot read a checkpoint from {path}: it holds arrays a checkpoint does not")
            continue
        index = int(match.group(1))
        if index >= len(model.weights) or array.shape != model.weights[index].shape or array.dtype.kind != "f" \
                or not np.isfinite(array).all():
            raise WeightsFileError(f"cannot read a checkpoint from {path}: the optimizer state of weight {index} "
                                   f"does not fit this model (or is not finite)")
        slots[index][match.group(2)] = array.astype(model.weights[index].dtype)
    for key in state["random"]:
        if key != "engine" and not (int(key) < len(model.layers)
                                    and isinstance(getattr(model.layers[int(key)], "rng", None), np.random.Generator)):
            raise WeightsFileError(f"cannot read a checkpoint from {path}: it holds the random state of a layer this "
                                   f"model does not have")
    optimizer = state["optimizer"]
    if optimizer["name"] != model.optimizer.name:
        raise ModelError(f"{path} was written while training with the {optimizer['name']} optimizer; this model "
                         f"is compiled with {model.optimizer.name}: compile it with the same optimizer to resume")
    return Checkpoint(path, weights, slots, optimizer["iterations"], state["epoch"], state["history"],
                      state["random"], state["settings"])


def restore_checkpoint(model, checkpoint: Checkpoint) -> None:
    """Assign a checked checkpoint: weights, optimizer slots and iterations, random generators."""
    model.set_weights(checkpoint.weights, source=str(checkpoint.path))
    optimizer = model.optimizer
    for weight, slots in zip(model.weights, checkpoint.slots):
        xp = array_module(weight.data)
        optimizer.set_slots(weight, {name: xp.asarray(array) for name, array in slots.items()})
    optimizer.iterations = checkpoint.iterations
    for key, state in checkpoint.random_states.items():
        random.set_state(state, None if key == "engine" else model.layers[int(key)].rng)


def _state(array, path) -> dict:
    """The checkpoint's JSON state, every field checked (types and ranges) before use."""
    def damaged(why="it is damaged") -> WeightsFileError:
        return WeightsFileError(f"cannot read a checkpoint from {path}: its state record {why}")
    if array is None:
        raise WeightsFileError(f"cannot read a checkpoint from {path}: it is not a checkpoint written by "
                               f"fit(checkpoint=...) (it has no state record)")
    if array.dtype != np.uint8 or array.ndim != 1:
        raise damaged()
    try:
        state = json.loads(array.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise damaged() from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise damaged("is not an nnlab checkpoint's")
    if state.get("version") != CHECKPOINT_VERSION:
        raise damaged(f"has another version than the {CHECKPOINT_VERSION} this nnlab reads")
    epoch, history, optimizer = state.get("epoch"), state.get("history"), state.get("optimizer")
    rngs, settings = state.get("random"), state.get("settings")
    if not _count(epoch) or not isinstance(history, dict) or not isinstance(settings, dict):
        raise damaged()
    for values in history.values():
        if not isinstance(values, list) or len(values) != epoch or \
                not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise damaged("has a history that does not match its epochs")
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("name"), str) \
            or not _count(optimizer.get("iterations")):
        raise damaged()
    if not isinstance(rngs, dict) or "engine" not in rngs:
        raise damaged()
    for key, rng_state in rngs.items():
        try:
            random.set_state(rng_state, np.random.default_rng())      # a trial run on a throwaway generator
        except ValueError:
            raise damaged("has a random state that is not valid") from None
        if key != "engine" and not (key.isdigit() and len(key) < 10):
            raise damaged()
    return state


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 53
