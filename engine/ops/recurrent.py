"""Recurrent ops over a whole sequence: one kernel call forward, one for backpropagation through time."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import get_backend


class SimpleRNN(Function):
    def forward(self, x, W, U, b, h0, activation):
        self.kernels = get_backend()
        hs, self.cache = self.kernels.simple_rnn_forward(x, W, U, b, h0, activation)
        return hs

    def backward(self, g):
        return (*self.kernels.simple_rnn_backward(g, self.cache), None)


class LSTM(Function):
    def forward(self, x, W, U, b, h0, c0, activation):
        self.kernels = get_backend()
        hs, self.cache = self.kernels.lstm_forward(x, W, U, b, h0, c0, activation)
        return hs

    def backward(self, g):
        return (*self.kernels.lstm_backward(g, self.cache), None)


class GRU(Function):
    def forward(self, x, W, U, B, h0, activation):
        self.kernels = get_backend()
        hs, self.cache = self.kernels.gru_forward(x, W, U, B, h0, activation)
        return hs

    def backward(self, g):
        return (*self.kernels.gru_backward(g, self.cache), None)
