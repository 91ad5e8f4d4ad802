"""The GAN loop on tiny models: both networks learn, losses are the lecture's, stopping keeps finished epochs."""
import numpy as np
import pytest

from engine import layers, optimizers, random
from engine.models import Sequential
from engine.lecture import gan


@pytest.fixture
def tiny_pair():
    random.set_seed(0)
    generator = Sequential([layers.Dense(8, input_shape=(4,)), layers.BatchNormalization(), layers.LeakyReLU(),
                            layers.Dense(6, activation="tanh"), layers.Reshape((2, 3, 1))])
    discriminator = Sequential([layers.Flatten(input_shape=(2, 3, 1)), layers.Dense(5), layers.LeakyReLU(),
                                layers.Dropout(0.3), layers.Dense(1)])
    images = np.tanh(np.random.default_rng(1).normal(size=(20, 2, 3, 1))).astype(np.float32)
    return generator, discriminator, images


def test_train_gan_updates_both_networks_and_records_losses(tiny_pair):
    generator, discriminator, images = tiny_pair
    before = [m.get_weights() for m in (generator, discriminator)]
    seen = []
    history = gan.train_gan(generator, discriminator, images, epochs=2, batch_size=8, noise_dim=4,
                            on_batch=lambda *args: seen.append(args))
    assert history.epoch == [0, 1]
    assert set(history.history) == {"gen_loss", "disc_loss"}
    assert len(seen) == 2 * 3  # ceil(20 / 8) batches per epoch
    assert all(np.isfinite(v) for values in history.history.values() for v in values)
    for model, old in zip((generator, discriminator), before):
        assert any(not np.allclose(a, b) for a, b in zip(model.get_weights(), old))
    # the generator's BatchNorm moving statistics moved: it ran in training mode
    assert not np.allclose(generator.layers[1].moving_mean.numpy(), 0)


def test_disc_loss_starts_near_2_ln2_for_an_untrained_pair(tiny_pair):
    generator, discriminator, images = tiny_pair
    for w in discriminator.weights:  # logits 0: BCE(1, 0) + BCE(0, 0) = 2 ln 2, gen loss ln 2
        w.data[...] = 0
    gen_loss, disc_loss = gan.train_step(generator, discriminator, images[:8], optimizers.Adam(1e-4),
                                         optimizers.Adam(1e-4), noise_dim=4, batch_size=8)
    assert disc_loss == pytest.approx(2 * np.log(2), rel=1e-6)
    assert gen_loss == pytest.approx(np.log(2), rel=1e-6)


def test_stop_after_a_batch_keeps_finished_epochs(tiny_pair):
    generator, discriminator, images = tiny_pair
    calls = []
    history = gan.train_gan(generator, discriminator, images, epochs=5, batch_size=8, noise_dim=4,
                            on_batch=lambda *a: calls.append(a), stop=lambda: len(calls) == 4)
    assert history.epoch == [0] and history.stopped_early


def test_latent_points_and_interpolation():
    random.set_seed(0)
    points = gan.generate_latent_points(number=500, latent_dim=100, scale_means=5, scale_stds=1)
    assert points.shape == (500, 100) and points.dtype == np.float32
    assert points[:, -1].mean() == pytest.approx(5, abs=0.2) and points[:, 0].mean() == pytest.approx(-5, abs=0.2)
    line = gan.interpolate(np.zeros(3), np.ones(3), n_steps=5)
    np.testing.assert_allclose(line[0], 0) and np.testing.assert_allclose(line[-1], 1)
    np.testing.assert_allclose(line[2], 0.5)
