"""Benchmark cases from the lecture's heavy examples: the DCGAN training step and its layers, and the
CIFAR CNN's first layer. Each case has a PyTorch twin that does the same arithmetic on the same shapes
(NHWC data as channels-last tensors), so the ratio compares kernels, not models.

The DCGAN is models/gan_mnist.nn (engine/lecture/gan.py runs its step): the generator
Dense(12544) -> BatchNorm -> LeakyReLU -> Reshape(7,7,256) -> Conv2DTranspose 128, 64, 1 (5x5, 'same',
strides 1, 2, 2) with BatchNorm + LeakyReLU between, tanh last; the discriminator Conv2D 64, 128 (5x5,
stride 2, 'same') with LeakyReLU + Dropout(0.3), then Dense(1). The PyTorch step takes the gradients as
the lecture's two GradientTapes do: of gen_loss for the generator's weights and of disc_loss for the
discriminator's, both at the same weights, then one Adam(1e-4) step each.
"""
from __future__ import annotations

import numpy as np

from engine import functional as F
from engine import layers, optimizers, random
from engine.lecture import gan
from engine.models import Sequential
from engine.tools.bench import Case, _engine_fwd_bwd, _rng, _torch, _torch_fwd_bwd

NOISE, BATCH = 100, 256
#: (input (N, H, W, Cin), filters, stride) of the generator's three transposed convolutions, batch 256
GENERATOR_TRANSPOSED = [((BATCH, 7, 7, 256), 128, 1), ((BATCH, 7, 7, 128), 64, 2), ((BATCH, 14, 14, 64), 1, 2)]


def gan_models():
    """The lecture's generator and discriminator (models/gan_mnist.nn) on the engine."""
    random.set_seed(0)
    generator = Sequential([
        layers.Dense(7 * 7 * 256, use_bias=False, input_shape=(NOISE,)), layers.BatchNormalization(),
        layers.LeakyReLU(), layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh")])
    discriminator = Sequential([
        layers.Conv2D(64, 5, strides=2, padding="same", input_shape=(28, 28, 1)), layers.LeakyReLU(),
        layers.Dropout(0.3),
        layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1)])
    return generator, discriminator


def _torch_gan():
    torch = _torch()
    nn = torch.nn

    class ToChannelsLast(nn.Module):  # Keras's Reshape((7, 7, 256)) of the Dense output: NHWC memory
        def forward(self, x):
            return x.view(-1, 7, 7, 256).permute(0, 3, 1, 2)

    def up(cin, cout, stride):
        return nn.ConvTranspose2d(cin, cout, 5, stride=stride, padding=2, output_padding=stride - 1, bias=False)

    def bn(cls, n):
        return cls(n, eps=1e-3, momentum=0.01)  # Keras momentum 0.99

    generator = nn.Sequential(
        nn.Linear(NOISE, 7 * 7 * 256, bias=False), bn(nn.BatchNorm1d, 7 * 7 * 256), nn.LeakyReLU(0.3),
        ToChannelsLast(), up(256, 128, 1), bn(nn.BatchNorm2d, 128), nn.LeakyReLU(0.3),
        up(128, 64, 2), bn(nn.BatchNorm2d, 64), nn.LeakyReLU(0.3), up(64, 1, 2), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(6272, 1))
    return generator.to(memory_format=torch.channels_last), discriminator.to(memory_format=torch.channels_last)


def _real_images():
    return (_rng().random((BATCH, 28, 28, 1), dtype=np.float32) * 2 - 1)


def gan_step_case():
    real = _real_images()

    def make_engine():
        generator, discriminator = gan_models()
        g_opt, d_opt = optimizers.Adam(1e-4), optimizers.Adam(1e-4)
        return lambda: gan.train_step(generator, discriminator, real, g_opt, d_opt, NOISE, BATCH)

    def make_torch():
        torch = _torch()
        generator, discriminator = _torch_gan()
        g_opt = torch.optim.Adam(generator.parameters(), lr=1e-4)
        d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
        bce = torch.nn.BCEWithLogitsLoss()
        real_t = torch.tensor(real).permute(0, 3, 1, 2)
        g_params, d_params = list(generator.parameters()), list(discriminator.parameters())

        def step():
            fake = generator(torch.randn(BATCH, NOISE))
            real_logits, fake_logits = discriminator(real_t), discriminator(fake)
            gen_loss = bce(fake_logits, torch.ones_like(fake_logits))
            disc_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            gen_grads = torch.autograd.grad(gen_loss, g_params, retain_graph=True)   # the two tapes
            disc_grads = torch.autograd.grad(disc_loss, d_params)
            for params, grads in ((g_params, gen_grads), (d_params, disc_grads)):
                for p, g in zip(params, grads):
                    p.grad = g
            g_opt.step()
            d_opt.step()
        return step

    return Case("gan_step_b256", "one training step of the lecture's DCGAN on MNIST (two Adam steps), batch 256",
                None, make_engine, make_torch, target=1.2)


def conv_transpose_case(index):
    """Conv2DTranspose 5x5 'same', forward+backward, on the generator's shapes (layer `index` of 3)."""
    x_shape, filters, stride = GENERATOR_TRANSPOSED[index]
    n, h, w, cin = x_shape
    flops = 3 * 2 * n * h * w * cin * filters * 25  # each input pixel meets all 25 taps of all filters

    def make_torch():
        torch = _torch()
        conv = torch.nn.ConvTranspose2d(cin, filters, 5, stride=stride, padding=2, output_padding=stride - 1,
                                        bias=False).to(memory_format=torch.channels_last)
        return _torch_fwd_bwd(conv, (n, cin, h, w), channels_last=True)

    return Case(f"conv2d_transpose{index + 1}_fwd_bwd",
                f"Conv2DTranspose {cin}->{filters} 5x5 stride {stride} 'same' on {x_shape}, forward+backward",
                flops, lambda: _engine_fwd_bwd(lambda x, k: F.conv2d_transpose(x, k, strides=stride, padding="same"),
                                               x_shape, (5, 5, filters, cin)), make_torch, target=1.5)


def batchnorm_leaky_case(shape):
    """Training-mode BatchNormalization + LeakyReLU(0.3), forward+backward, on one generator activation."""
    channels = shape[-1]

    def engine_op(x, gamma, beta):
        moving_mean, moving_var = np.zeros(channels, np.float32), np.ones(channels, np.float32)
        return F.leaky_relu(F.batch_norm(x, gamma, beta, moving_mean, moving_var, True, 0.99, 1e-3), 0.3)

    def make_torch():
        torch = _torch()
        nn = torch.nn
        module = nn.Sequential((nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(channels, eps=1e-3),
                               nn.LeakyReLU(0.3)).to(memory_format=torch.channels_last)
        torch_shape = shape if len(shape) == 2 else (shape[0], shape[3], shape[1], shape[2])
        return _torch_fwd_bwd(module, torch_shape, channels_last=True)

    name = "x".join(str(s) for s in shape[1:])
    return Case(f"batchnorm_leaky_{name}", f"BatchNormalization + LeakyReLU on {shape}, forward+backward", None,
                lambda: _engine_fwd_bwd(engine_op, shape, (channels,), (channels,)), make_torch)


def cifar_first_layer_case(backward):
    """The CIFAR CNN's first layer: Conv2D 3->32 3x3 'valid' + ReLU on a batch of 64 32x32 RGB images."""
    n = 64
    flops = 2 * n * 30 * 30 * 27 * 32 * (3 if backward else 1)

    def make_torch():
        torch = _torch()
        nn = torch.nn
        module = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU()).to(memory_format=torch.channels_last)
        if not backward:
            module.requires_grad_(False)
        return _torch_fwd_bwd(module, (n, 3, 32, 32), backward=backward, channels_last=True)

    return Case(f"cifar_conv1_{'fwd_bwd' if backward else 'fwd'}",
                f"CIFAR CNN first layer: Conv2D 3->32 3x3 + ReLU on (64, 32, 32, 3), "
                f"{'forward+backward' if backward else 'forward'}",
                flops, lambda: _engine_fwd_bwd(lambda x, k, b: F.relu(F.conv2d(x, k, b)), (n, 32, 32, 3),
                                               (3, 3, 3, 32), (32,), backward=backward), make_torch,
                target=1.5 if backward else None)   # issue 12: forward+backward <= 1.5x; forward reported


def lecture_cases() -> list[Case]:
    return [gan_step_case(), *(conv_transpose_case(i) for i in range(3)),
            batchnorm_leaky_case((BATCH, 7 * 7 * 256)), batchnorm_leaky_case((BATCH, 7, 7, 128)),
            batchnorm_leaky_case((BATCH, 14, 14, 64)), cifar_first_layer_case(False), cifar_first_layer_case(True)]
