"""The lecture's GAN training loop (a DCGAN on MNIST), written against nnlab's models.

One step on a batch of real images x (the lecture's `train_step`, both losses BCE from logits):

    z ~ N(0, 1)^(B x noise_dim)                  B = batch_size: the noise batch is always full (as the lecture)
    fake = G(z)                                  training=True: BatchNorm uses batch statistics
    disc_loss = BCE(1, D(x)) + BCE(0, D(fake))   D is called twice, with independent dropout masks
    gen_loss  = BCE(1, D(fake))
    G <- Adam step on d gen_loss / dG;  D <- Adam step on d disc_loss / dD

Both gradients are taken at the same weights (the lecture records both tapes before either update).
"""
from __future__ import annotations

import numpy as np

from engine import losses, optimizers, random
from engine.autograd import Tensor
from engine.backends import get_backend
from engine.training import History, batches


def _bce_logits(target: float, logits: Tensor) -> Tensor:
    return losses.binary_crossentropy(np.full(logits.shape, target, dtype=logits.dtype), logits, from_logits=True)


def _grads(loss: Tensor, weights) -> list:
    """d loss / d w for each weight (zeros where the loss does not reach a weight). Only the ops between
    the loss and these weights run their backward: the other network's gradients are not computed."""
    for w in weights:
        w.grad = None
    loss.backward(inputs=weights)
    return [w.grad for w in weights]


def _apply(optimizer, weights, grads) -> None:
    for w, g in zip(weights, grads):
        w.grad = g
    optimizer.apply(weights)


def train_step(generator, discriminator, real, gen_optimizer, disc_optimizer, noise_dim, batch_size):
    """One step; returns (gen_loss, disc_loss) as floats."""
    xp = get_backend().xp
    noise = Tensor(xp.asarray(random.generator().standard_normal((batch_size, noise_dim)), dtype=np.float32))
    fake = generator(noise, training=True)
    real_logits = discriminator(Tensor(xp.asarray(real)), training=True)
    fake_logits = discriminator(fake, training=True)
    gen_loss = _bce_logits(1.0, fake_logits)
    disc_loss = _bce_logits(1.0, real_logits) + _bce_logits(0.0, fake_logits)
    gen_weights, disc_weights = generator.trainable_weights, discriminator.trainable_weights
    gen_grads = _grads(gen_loss, gen_weights)       # both tapes first: gradients at the same weights,
    disc_grads = _grads(disc_loss, disc_weights)    # as the lecture's two GradientTapes
    _apply(gen_optimizer, gen_weights, gen_grads)
    _apply(disc_optimizer, disc_weights, disc_grads)
    return gen_loss.item(), disc_loss.item()


def train_gan(generator, discriminator, images, epochs, batch_size=256, noise_dim=100, learning_rate=1e-4,
              on_batch=None, stop=lambda: False) -> History:
    """Train both networks (each with its own Adam(learning_rate)); history has gen_loss and disc_loss per epoch.

    images: (N, 28, 28, 1) scaled to [-1, 1]. The data is reshuffled every epoch (the lecture's
    `shuffle(60000).batch(256)`); the last batch may be smaller. `on_batch(epoch, step, gen_loss, disc_loss)`
    reports progress; `stop()` returning True ends training after the current batch (finished epochs are kept).
    """
    gen_optimizer, disc_optimizer = optimizers.Adam(learning_rate), optimizers.Adam(learning_rate)
    images = np.asarray(images, dtype=np.float32)
    history = History()
    history.params = {"epochs": epochs, "batch_size": batch_size, "noise_dim": noise_dim}
    for epoch in range(epochs):
        order = random.generator().permutation(len(images))
        totals, steps = np.zeros(2), 0
        for step, index in enumerate(batches(len(images), batch_size, order)):
            losses_now = train_step(generator, discriminator, images[index], gen_optimizer, disc_optimizer,
                                    noise_dim, batch_size)
            totals += losses_now
            steps += 1
            if on_batch:
                on_batch(epoch, step, *losses_now)
            if stop():
                history.stopped_early = True
                return history
        history.record(epoch, {"gen_loss": totals[0] / steps, "disc_loss": totals[1] / steps})
    return history


def generate_latent_points(number=100, latent_dim=100, scale_means=1.0, scale_stds=1.0) -> np.ndarray:
    """The lecture's latent exploration: column k ~ N(scale_means * m_k, (scale_stds * s_k)^2),
    m = s = linspace(-1, 1, latent_dim)."""
    means = scale_means * np.linspace(-1, 1, latent_dim)
    stds = scale_stds * np.linspace(-1, 1, latent_dim)
    return random.generator().normal(means, np.abs(stds), size=(number, latent_dim)).astype(np.float32)


def interpolate(p1, p2, n_steps=10) -> np.ndarray:
    """Points on the straight line from p1 to p2 in latent space (the lecture's `interpolation`)."""
    ratios = np.linspace(0, 1, n_steps)[:, None]
    return ((1 - ratios) * np.asarray(p1) + ratios * np.asarray(p2)).astype(np.float32)
