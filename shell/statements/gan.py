"""`gan train`: the lecture's DCGAN loop on a generator and a discriminator model of the session."""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from shell import writing
from shell.language.parser import Node
from shell.output import format_number, format_shape
from shell.state import Data, ModelEntry
from shell.statements.common import engine_errors
from shell.statements.training import interrupts

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_gan(session: Session, node: Node) -> None:
    from engine.lecture import gan
    generator = session.entry(node, "generator")
    discriminator = session.entry(node, "discriminator")
    if generator is discriminator:
        raise node.error("the generator and the discriminator must be two different models", at="discriminator")
    data = session.need_data(node)
    images = data.x_train
    noise_dim = _check_models(node, generator, discriminator, data)
    epochs, batch_size, lr = session.epochs(node), node.get("batch_size"), node.get("lr")
    steps = max(1, math.ceil(len(images) / batch_size))
    session.out.print(f"gan: generator {generator.name} ({generator.model.count_params():,} params), discriminator "
                      f"{discriminator.name} ({discriminator.model.count_params():,} params); {len(images)} images, "
                      f"{epochs} epoch{'s' if epochs != 1 else ''} of {steps} step{'s' if steps != 1 else ''} "
                      f"(batch {batch_size}, noise {noise_dim}), Adam({lr:g}) each")
    progress = session.out.training_progress(epochs, steps)
    finished = {"gen_loss": [], "disc_loss": []}
    running = np.zeros(2)

    def on_batch(epoch, step, gen_loss, disc_loss):
        if step == 0:
            running[:] = 0.0
        running[:] += (gen_loss, disc_loss)
        logs = {"gen_loss": running[0] / (step + 1), "disc_loss": running[1] / (step + 1)}
        progress.on_batch_end(step, logs)
        if step == steps - 1:
            finished["gen_loss"].append(float(logs["gen_loss"]))
            finished["disc_loss"].append(float(logs["disc_loss"]))
            progress.on_epoch_end(epoch, logs)
            if epoch + 1 < epochs:
                progress.on_epoch_begin(epoch + 1)

    interrupted = False
    start = time.perf_counter()
    try:
        with engine_errors(node), interrupts() as state, progress:
            progress.on_epoch_begin(0)
            gan.train_gan(generator.model, discriminator.model, images, epochs, batch_size=batch_size,
                          noise_dim=noise_dim, learning_rate=lr, on_batch=on_batch, stop=lambda: state.interrupted)
        interrupted = state.interrupted
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress.epoch or progress.batch:
            generator.unsaved = discriminator.unsaved = True
    elapsed = time.perf_counter() - start
    done = len(finished["gen_loss"])
    for entry in (generator, discriminator):
        entry.add_history(done, finished)
    if interrupted:
        session.out.warning(f"gan training stopped by Ctrl-C after {done} finished epoch{'s' if done != 1 else ''}; "
                            "both models keep their weights")
        writing.record_stopped(session, node, done, f"in epoch {progress.epoch + 1}/{epochs}",
                               unfinished_batches=0 < progress.batch < steps)
    if node.has("csv") and done:
        table = np.column_stack([np.arange(1, done + 1), finished["gen_loss"], finished["disc_loss"]])
        path = writing.write_table(session, node, "csv", table, ["epoch", "gen_loss", "disc_loss"],
                                   ["%d", "%.8g", "%.8g"])
        session.out.wrote(path)
    if interrupted and session.in_script:
        raise KeyboardInterrupt(f"in epoch {progress.epoch + 1}/{epochs} after batch {progress.batch}/{steps}")
    last = (f"; gen_loss {format_number(finished['gen_loss'][-1])}  disc_loss "
            f"{format_number(finished['disc_loss'][-1])}") if done else ""
    session.done(f"trained gan {generator.name}/{discriminator.name}: {done} epoch{'s' if done != 1 else ''} of "
                 f"{steps} step{'s' if steps != 1 else ''}{last}", elapsed)


def _check_models(node: Node, generator: ModelEntry, discriminator: ModelEntry, data: Data) -> int:
    """The noise size, after checking that the two models fit each other and the data's images."""
    g_in, g_out = generator.model.input_shape, generator.model.output_shape
    d_in, d_out = discriminator.model.input_shape, discriminator.model.output_shape
    if g_in is None or len(g_in) != 2:
        raise node.error(f"generator '{generator.name}' takes input {format_shape(g_in)}; it needs noise vectors "
                         "(None, noise)", "start it with input=(100,)", at="generator")
    noise_dim = g_in[1]
    if node.has("noise") and node.value("noise") != noise_dim:
        raise node.error(f"noise={node.value('noise')} but generator '{generator.name}' takes input "
                         f"{format_shape(g_in)}", f"use noise={noise_dim} or change the generator's input", at="noise")
    shape = tuple(data.x_train.shape[1:])
    sample, name = format_shape((None, *shape)), data.name
    if tuple(g_out[1:]) != shape:
        raise node.error(f"generator '{generator.name}' outputs {format_shape(g_out)} but the {name} images are "
                         f"{sample}", "its last layers must produce the image shape", at="generator")
    if d_in is None or tuple(d_in[1:]) != shape:
        raise node.error(f"discriminator '{discriminator.name}' takes input {format_shape(d_in)} but the {name} "
                         f"images are {sample}", at="discriminator")
    if tuple(d_out[1:]) != (1,):
        raise node.error(f"discriminator '{discriminator.name}' outputs {format_shape(d_out)}; it must give one "
                         "logit per image, (None, 1)", "end it with `dense 1` (no activation)", at="discriminator")
    return noise_dim
