"""A DFT-LRP-style baseline for the suite: time-domain relevance redistributed onto Fourier bins.

After Vielhaben, Lapuschkin, Montavon and Samek, "Explainable AI for time series via virtual inspection
layers" (2023): a virtual inverse-DFT layer is put in front of the model, so that
the model's input ``x_t = sum_k W_tk z_k`` is a linear layer of the signal's Fourier coefficients
``z = rfft(x)``. Relevance is propagated through the model to the time steps and then through that
linear layer to the frequency bins with the LRP-0 rule

    R_k = sum_t (W_tk z_k / x_t) R_t,

which keeps the total relevance (``sum_k W_tk z_k = x_t``).

Here the time-domain relevance is gradient x input, ``R_t = x_t df/dx_t``: for networks of ReLU
(piecewise-linear) layers with the biases counted in the pre-activations this is exactly LRP-0
(Ancona et al., ICLR 2018), which is what the suite's ReLU CNN is. One forward and one backward pass
of the batch, then two real FFTs: the baseline's whole cost.

The virtual layer is the real-signal (``rfft``/``irfft``) form: bin ``k`` contributes
``W_tk z_k = (c_k / T) Re(z_k exp(2 pi i k t / T))`` to ``x_t``, with ``c_k = 1`` for the DC bin (and
the Nyquist bin of an even ``T``) and 2 for the others, which carry their negative-frequency twins.
Summing over ``t`` gives ``R_k = (c_k / T) Re(z_k conj(S_k))`` with ``S = rfft(R / x)``: the FFT form
of the same sum. ``x_t`` near 0 is stabilised as ``x_t + eps sign(x_t)`` (``sign(0) = +1``) with
``eps`` a small fraction of the signal's largest magnitude.

This is a benchmark baseline, not part of cdig: the library computes Integrated Gradients.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["time_relevance", "redistribute", "redistribute_matrix", "dft_lrp"]

#: The stabiliser of ``R_t / x_t``, as a fraction of each signal's largest |x_t|.
EPS = 1e-6


def time_relevance(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient x input of the target output: LRP-0 relevance of each time step of a ReLU network."""
    p = x.detach().requires_grad_(True)
    y = model(p).gather(1, target.reshape(-1, 1)).sum()
    (g,) = torch.autograd.grad(y, p)
    return (p * g).detach()


def _stabilised(x: torch.Tensor, eps: float) -> torch.Tensor:
    scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    return x + eps * scale * torch.where(x >= 0, 1.0, -1.0)


def _bin_weights(n_times: int, dtype: Any, device: Any) -> torch.Tensor:
    c = torch.full((n_times // 2 + 1,), 2.0, dtype=dtype, device=device)
    c[0] = 1.0
    if n_times % 2 == 0:
        c[-1] = 1.0
    return c / n_times


def redistribute(x: torch.Tensor, r_time: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """LRP-0 through the virtual inverse real DFT, FFT form: relevance per bin ``0 .. T//2``, shape (..., T//2 + 1)."""
    n = x.shape[-1]
    s = torch.fft.rfft(r_time / _stabilised(x, eps), dim=-1)
    z = torch.fft.rfft(x, dim=-1)
    return _bin_weights(n, x.dtype, x.device) * (z * s.conj()).real


def redistribute_matrix(x: torch.Tensor, r_time: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The same as :func:`redistribute`, summed term by term over an explicit (T, T//2 + 1) layer (for tests)."""
    n = x.shape[-1]
    t = torch.arange(n, dtype=torch.float64, device=x.device)
    k = torch.arange(n // 2 + 1, dtype=torch.float64, device=x.device)
    w = torch.exp(2j * torch.pi * t[:, None] * k[None, :] / n) * _bin_weights(n, torch.float64, x.device)  # W_tk
    z = torch.fft.rfft(x.double(), dim=-1)
    contrib = (w * z[..., None, :]).real  # W_tk z_k, shape (..., T, K); sums over k to x_t
    share = contrib / _stabilised(x.double(), eps)[..., :, None]
    return (share * r_time.double()[..., :, None]).sum(dim=-2).to(x.dtype)


def dft_lrp(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """DFT-LRP relevance of every rFFT bin of every channel: (N, C, T//2 + 1), on ``x``'s device."""
    return redistribute(x, time_relevance(model, x, target), eps)
