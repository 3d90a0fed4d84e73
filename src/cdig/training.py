"""Small torch classifiers and their training loops: the network and the loops of ``cdig demo``,
``cdig demo --real``, :mod:`cdig.metrics.planted` and the scripts in ``examples/``.

An edge like :mod:`cdig.demo`: nothing in the core imports it, and torch is imported only when a
function here runs. ``cdig.demo.make_model``, ``cdig.demo.train_classifier`` and
``cdig.demo.train_regressor`` remain as aliases of the names here.

>>> from cdig.training import make_model, train_classifier, train_regressor
>>> train_classifier.__module__
'cdig.training'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._progress import Progress
from .core.errors import CdigValueError

__all__ = ["make_model", "train_classifier", "train_regressor", "torch_settings", "BATCH_SIZE", "LEARNING_RATE"]

#: Mini-batch size of the default training loop (``cdig demo``).
BATCH_SIZE = 32
#: Adam's learning rate of the default training loop (``cdig demo``).
LEARNING_RATE = 3e-3


def make_model(n_channels: int, n_classes: int = 2, width: int = 16, *, n_layers: int = 2, stride: int = 1) -> Any:
    """The demo's CNN: smooth (GELU) convolutions, global average pooling, a linear read-out.

    Smooth activations keep the integrand of IG smooth, so a few Gauss–Legendre points suffice.
    The first convolution has 15 taps, the others 9; ``stride > 1`` shortens long series (e.g.
    ACSF1's 1460 steps) at every layer.

    Parameters
    ----------
    n_channels, n_classes, width : int
        Input channels, outputs (logits) and feature maps per convolution.
    n_layers : int
        Convolutions (default 2, the synthetic demo's network).
    stride : int
        Stride of every convolution.

    Examples
    --------
    >>> import torch
    >>> model = make_model(3)
    >>> tuple(model(torch.zeros(2, 3, 256)).shape)
    (2, 2)
    >>> tuple(make_model(1, 10, n_layers=3, stride=2)(torch.zeros(2, 1, 1460)).shape)
    (2, 10)
    """
    from torch import nn

    layers: list[Any] = []
    for i in range(n_layers):
        k = 15 if i == 0 else 9
        layers += [nn.Conv1d(n_channels if i == 0 else width, width, kernel_size=k, stride=stride, padding=k // 2), nn.GELU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, n_classes))


def train_classifier(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    *,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Train a torch classifier in place with Adam and cross-entropy on the logits ``model(X)``.

    A plain, seeded mini-batch loop (the batch order comes from its own generator, so the caller's
    random state only decides the initialisation): the training loop of ``cdig demo`` and of the
    scripts in ``examples/``. The model is left in ``eval()`` mode.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float32 batch shaped like ``X`` to logits ``(N, n_classes)``.
    X : ndarray, shape (N, ...)
        Inputs (converted to float32).
    y : ndarray of int, shape (N,)
        Class indices.
    epochs : int
        Passes over the data.
    batch_size, lr, weight_decay : int, float, float
        Mini-batch size, Adam's learning rate and (decoupled, AdamW) weight decay.
    seed : int
        Seed of the batch order.
    progress : bool
        One progress bar over the epochs (tqdm when installed).
    desc : str
        The progress bar's label.

    Returns
    -------
    dict
        ``{"loss": [...], "accuracy": [...]}``: the mean training loss and accuracy of each epoch.

    Raises
    ------
    CdigValueError
        ``epochs`` is not a positive integer, or ``X`` and ``y`` hold different numbers of samples.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> X = np.random.default_rng(0).normal(size=(64, 1, 32)).astype(np.float32)
    >>> y = (X[:, 0, :16].mean(axis=1) > 0).astype(np.int64)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    >>> history = train_classifier(model, X, y, epochs=30, lr=1e-2)
    >>> history["accuracy"][-1] > 0.9
    True
    """
    import torch

    return _fit(
        torch,
        model,
        X,
        np.asarray(y, dtype=np.int64),
        epochs,
        torch.nn.functional.cross_entropy,
        batch_size,
        lr,
        weight_decay,
        seed,
        progress,
        desc,
        classify=True,
    )


def train_regressor(
    model: Any,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    *,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = False,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Train a torch regressor (e.g. a forecaster) in place with Adam and the mean squared error.

    The same loop as :func:`train_classifier`, for float targets ``Y`` shaped like ``model(X)``.

    Returns
    -------
    dict
        ``{"loss": [...]}``: the mean training MSE of each epoch.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> X = np.random.default_rng(0).normal(size=(64, 1, 8)).astype(np.float32)
    >>> Y = X[:, 0, -2:].copy()                     # "forecast" the last two inputs
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    >>> history = train_regressor(model, X, Y, epochs=60, lr=3e-2)
    >>> history["loss"][-1] < 0.05 * history["loss"][0]
    True
    """
    import torch

    return _fit(
        torch,
        model,
        X,
        np.asarray(Y, dtype=np.float32),
        epochs,
        torch.nn.functional.mse_loss,
        batch_size,
        lr,
        weight_decay,
        seed,
        progress,
        desc,
        classify=False,
    )


def _fit(
    torch: Any,
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    loss_fn: Any,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    progress: bool,
    desc: str,
    classify: bool,
) -> dict[str, list[float]]:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise CdigValueError(f"epochs={epochs!r}: expected a positive integer")
    X = np.asarray(X, dtype=np.float32)
    if len(X) != len(y) or len(X) == 0:
        raise CdigValueError(f"X has {len(X)} samples and the targets {len(y)}; they must match (and not be empty)")
    xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    opt = (
        torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        if weight_decay
        else torch.optim.Adam(model.parameters(), lr=lr)
    )
    gen = torch.Generator().manual_seed(int(seed))
    history: dict[str, list[float]] = {"loss": [], "accuracy": []} if classify else {"loss": []}
    bar = Progress(progress, int(epochs), desc, unit="epoch")
    for _ in range(int(epochs)):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total, correct = 0.0, 0
        for start in range(0, len(order), batch_size):
            b = order[start : start + batch_size]
            out = model(xt[b])
            loss = loss_fn(out, yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
            if classify:
                correct += int((out.argmax(dim=1) == yt[b]).sum())
        history["loss"].append(round(total / len(xt), 6))
        stats = {"loss": history["loss"][-1]}
        if classify:
            history["accuracy"].append(round(correct / len(xt), 4))
            stats["acc"] = history["accuracy"][-1]
        bar(1, **stats)
    bar.close()
    model.eval()
    return history


@contextmanager
def torch_settings(torch: Any, seed: int) -> Iterator[None]:
    """One thread (the fastest for these tiny models, and immune to busy cores), deterministic kernels,
    a fixed seed; the caller's settings come back afterwards (the training of ``cdig demo``)."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.random.set_rng_state(rng_state)
