"""Tiny models as people have them, and the checks the tests of ``tests/models/`` share.

braindecode 1.8.1 and tsai 1.0.1 do not install beside torch 2.13 CPU (braindecode needs torchaudio,
whose only build does not load beside this torch; tsai pins scikit-learn<1.8 and pulls in fastai's
torchvision, a CUDA build that does not load either). The classes below rebuild their models layer for
layer from the packages' own source (braindecode ``models/eegnet.py``, ``models/shallow_fbcsp.py``,
``modules/convolution.py``; tsai ``models/TSTPlus.py``, ``models/InceptionTime.py``,
``models/layers.py``), under the same names and argument names, with what matters to an explanation
kept: the layers that compute differently in training mode (BatchNorm, Dropout), braindecode's max-norm
weight parametrization, ShallowFBCSPNet's merged temporal-spatial convolution and safe log, and TSTPlus's
in-place masking of its input (``x[mask] = 0``). Both libraries leave a model in training mode after
construction, and so do these.

pytest runs with ``--import-mode=importlib``: ``conftest.py`` loads this file once as
``sys.modules["_cdig_tests_model_builders"]``; the benchmark ``benchmarks/models_table.py`` loads it the
same way. It imports torch and numpy only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "EEGNet",
    "ShallowFBCSPNet",
    "TSTPlus",
    "InceptionTime",
    "warm_up",
    "completeness_bound",
    "assert_complete",
    "captum_time_ig",
    "state_snapshot",
    "assert_state_equal",
    "relative_l2",
    "patchtst_config",
    "time_series_transformer_config",
]


# --------------------------------------------------------------------------------------------
# braindecode
# --------------------------------------------------------------------------------------------


class _MaxNorm(nn.Module):
    """braindecode's ``MaxNormParametrize``: each output filter renormalised to an L2 norm of at most ``max_norm``."""

    def __init__(self, max_norm: float = 1.0) -> None:
        super().__init__()
        self.max_norm = max_norm

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w.renorm(p=2, dim=0, maxnorm=self.max_norm)


class _Ensure4d(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while x.dim() < 4:
            x = x.unsqueeze(-1)
        return x


class _Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class _SqueezeFinalOutput(nn.Module):
    """``b c t 1 -> b c t``, then the time axis too where it has one entry."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.squeeze(-1)
        return x.squeeze(-1) if x.shape[-1] == 1 else x


class _Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


class _SafeLog(nn.Module):
    def __init__(self, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp(x, min=self.epsilon))


class EEGNet(nn.Sequential):
    """braindecode's ``EEGNet`` (v4, Lawhern et al. 2018) on ``(N, n_chans, n_times)``: its layers, names and defaults.

    Temporal ``Conv2d`` on ``(N, 1, C, T)``, BatchNorm, depthwise spatial ``Conv2d`` over all channels
    (max-norm 1), BatchNorm, ELU, average pooling, dropout, the separable convolution (depthwise, then
    pointwise), BatchNorm, ELU, pooling, dropout and the convolutional classifier, as
    ``braindecode.models.EEGNet(final_layer_with_constraint=False)`` builds them.
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        n_times: int,
        F1: int = 8,
        D: int = 2,
        F2: int | None = None,
        kernel_length: int = 64,
        *,
        depthwise_kernel_length: int = 16,
        pool1_kernel_size: int = 4,
        pool2_kernel_size: int = 8,
        conv_spatial_max_norm: float = 1,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 1e-3,
        drop_prob: float = 0.25,
    ) -> None:
        super().__init__()
        F2 = F1 * D if F2 is None else F2
        self.n_chans, self.n_outputs, self.n_times = n_chans, n_outputs, n_times

        def bnorm(n: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(n, momentum=batch_norm_momentum, affine=True, eps=batch_norm_eps)

        self.add_module("ensuredims", _Ensure4d())
        self.add_module("dimshuffle", _Permute(0, 3, 1, 2))  # batch ch t 1 -> batch 1 ch t
        self.add_module("conv_temporal", nn.Conv2d(1, F1, (1, kernel_length), bias=False, padding=(0, kernel_length // 2)))
        self.add_module("bnorm_temporal", bnorm(F1))
        spatial = nn.Conv2d(F1, F1 * D, (n_chans, 1), bias=False, groups=F1)
        nn.init.xavier_uniform_(spatial.weight, gain=1)
        parametrize.register_parametrization(spatial, "weight", _MaxNorm(conv_spatial_max_norm))
        self.add_module("conv_spatial", spatial)
        self.add_module("bnorm_1", bnorm(F1 * D))
        self.add_module("elu_1", nn.ELU())
        self.add_module("pool_1", nn.AvgPool2d(kernel_size=(1, pool1_kernel_size)))
        self.add_module("drop_1", nn.Dropout(p=drop_prob))
        self.add_module(
            "conv_separable_depth",
            nn.Conv2d(
                F1 * D,
                F1 * D,
                (1, depthwise_kernel_length),
                bias=False,
                groups=F1 * D,
                padding=(0, depthwise_kernel_length // 2),
            ),
        )
        self.add_module("conv_separable_point", nn.Conv2d(F1 * D, F2, kernel_size=(1, 1), bias=False))
        self.add_module("bnorm_2", bnorm(F2))
        self.add_module("elu_2", nn.ELU())
        self.add_module("pool_2", nn.AvgPool2d(kernel_size=(1, pool2_kernel_size)))
        self.add_module("drop_2", nn.Dropout(p=drop_prob))
        with torch.no_grad():
            self.eval()
            shape = super().forward(torch.zeros(1, n_chans, n_times)).shape
            self.train()
        final = nn.Sequential()
        final.add_module("conv_classifier", nn.Conv2d(F2, n_outputs, (shape[2], shape[3]), bias=True))
        final.add_module("permute_back", _Permute(0, 1, 3, 2))
        final.add_module("squeeze", _SqueezeFinalOutput())
        self.add_module("final_layer", final)
        for m in self.modules():  # braindecode's glorot_weight_zero_bias: BatchNorm weights 1, every bias 0
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.constant_(m.weight, 1)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0)


class _CombinedConv(nn.Module):
    """braindecode's ``CombinedConv``: the temporal and the spatial convolution merged into one ``conv2d``."""

    def __init__(self, in_chans: int, n_filters_time: int, n_filters_spat: int, filter_time_length: int) -> None:
        super().__init__()
        self.conv_time = nn.Conv2d(1, n_filters_time, (filter_time_length, 1), bias=True)
        self.conv_spat = nn.Conv2d(n_filters_time, n_filters_spat, (1, in_chans), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = (self.conv_time.weight * self.conv_spat.weight.permute(1, 0, 2, 3)).sum(0).unsqueeze(1)
        bias = self.conv_spat.weight.squeeze().sum(-1).mm(self.conv_time.bias.unsqueeze(-1)).squeeze()
        return nn.functional.conv2d(x, weight=weight, bias=bias)


class ShallowFBCSPNet(nn.Sequential):
    """braindecode's ``ShallowFBCSPNet`` (Schirrmeister et al. 2017) on ``(N, n_chans, n_times)``.

    Merged temporal and spatial convolution, BatchNorm, square, average pooling, safe log, dropout and
    the convolutional classifier, with braindecode's defaults and initialisation; in training mode
    after construction, as braindecode leaves it.
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        n_times: int,
        n_filters_time: int = 40,
        filter_time_length: int = 25,
        n_filters_spat: int = 40,
        pool_time_length: int = 75,
        pool_time_stride: int = 15,
        batch_norm_alpha: float = 0.1,
        drop_prob: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_chans, self.n_outputs, self.n_times = n_chans, n_outputs, n_times
        self.add_module("ensuredims", _Ensure4d())
        self.add_module("dimshuffle", _Permute(0, 3, 2, 1))  # batch C T 1 -> batch 1 T C
        self.add_module("conv_time_spat", _CombinedConv(n_chans, n_filters_time, n_filters_spat, filter_time_length))
        self.add_module("bnorm", nn.BatchNorm2d(n_filters_spat, momentum=batch_norm_alpha, affine=True))
        self.add_module("conv_nonlin_exp", _Square())
        self.add_module("pool", nn.AvgPool2d(kernel_size=(pool_time_length, 1), stride=(pool_time_stride, 1)))
        self.add_module("pool_nonlin_exp", _SafeLog())
        self.add_module("drop", nn.Dropout(p=drop_prob))
        with torch.no_grad():
            self.eval()
            final_len = super().forward(torch.zeros(1, n_chans, n_times)).shape[2]
        final = nn.Sequential()
        final.add_module("conv_classifier", nn.Conv2d(n_filters_spat, n_outputs, (final_len, 1), bias=True))
        final.add_module("squeeze", _SqueezeFinalOutput())
        self.add_module("final_layer", final)
        nn.init.xavier_uniform_(self.conv_time_spat.conv_time.weight, gain=1)
        nn.init.constant_(self.conv_time_spat.conv_time.bias, 0)
        nn.init.xavier_uniform_(self.conv_time_spat.conv_spat.weight, gain=1)
        nn.init.constant_(self.bnorm.weight, 1)
        nn.init.constant_(self.bnorm.bias, 0)
        nn.init.xavier_uniform_(self.final_layer.conv_classifier.weight, gain=1)
        nn.init.constant_(self.final_layer.conv_classifier.bias, 0)
        self.train()


# --------------------------------------------------------------------------------------------
# tsai
# --------------------------------------------------------------------------------------------


class _Transpose(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(*self.dims).contiguous()


class _ScaledDotProductAttention(nn.Module):
    """tsai's residual attention (RealFormer): the previous layer's scores are added before the softmax."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0) -> None:
        super().__init__()
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.scale = nn.Parameter(torch.tensor((d_model // n_heads) ** -0.5), requires_grad=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, prev: torch.Tensor | None = None) -> Any:
        scores = torch.matmul(q, k) * self.scale
        if prev is not None:
            scores = scores + prev
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(weights, v), scores


class _MultiheadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0, proj_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.W_Q = nn.Linear(d_model, d_model)
        self.W_K = nn.Linear(d_model, d_model)
        self.W_V = nn.Linear(d_model, d_model)
        self.sdp_attn = _ScaledDotProductAttention(d_model, n_heads, attn_dropout)
        self.to_out = nn.Sequential(nn.Linear(d_model, d_model), nn.Dropout(proj_dropout))

    def forward(self, x: torch.Tensor, prev: torch.Tensor | None = None) -> Any:
        bs = x.size(0)
        q = self.W_Q(x).reshape(bs, -1, self.n_heads, self.d_k).transpose(1, 2)
        k = self.W_K(x).reshape(bs, -1, self.n_heads, self.d_k).permute(0, 2, 3, 1)
        v = self.W_V(x).reshape(bs, -1, self.n_heads, self.d_k).transpose(1, 2)
        out, scores = self.sdp_attn(q, k, v, prev)
        out = out.transpose(1, 2).contiguous().reshape(bs, -1, self.n_heads * self.d_k)
        return self.to_out(out), scores


class _TSTEncoderLayer(nn.Module):
    """Post-norm encoder layer with tsai's default ``norm='BatchNorm'`` (BatchNorm1d over ``d_model``)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.self_attn = _MultiheadAttention(d_model, n_heads, attn_dropout, dropout)
        self.dropout_attn = nn.Dropout(dropout)
        self.norm_attn = nn.Sequential(_Transpose(1, 2), nn.BatchNorm1d(d_model), _Transpose(1, 2))
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout_ffn = nn.Dropout(dropout)
        self.norm_ffn = nn.Sequential(_Transpose(1, 2), nn.BatchNorm1d(d_model), _Transpose(1, 2))

    def forward(self, src: torch.Tensor, prev: torch.Tensor | None = None) -> Any:
        src2, scores = self.self_attn(src, prev)
        src = self.norm_attn(src + self.dropout_attn(src2))
        src = self.norm_ffn(src + self.dropout_ffn(self.ff(src)))
        return src, scores


class _TSTBackbone(nn.Module):
    def __init__(
        self, c_in: int, seq_len: int, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float, attn_dropout: float
    ) -> None:
        super().__init__()
        self.W_P = nn.Linear(c_in, d_model)
        W_pos = torch.empty(seq_len, d_model)
        nn.init.uniform_(W_pos, -0.02, 0.02)  # tsai's default pe="zeros", learned
        self.W_pos = nn.Parameter(W_pos)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(_TSTEncoderLayer(d_model, n_heads, d_ff, dropout, attn_dropout) for _ in range(n_layers))
        self.transpose = _Transpose(-1, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # tsai's key_padding_mask="auto": steps where every channel is NaN are padding; NaNs are zeroed
        # in place, on the caller's tensor (the line that fails on a leaf that requires grad)
        mask = torch.isnan(x)
        x[mask] = 0
        key_padding = (mask.float().mean(1) == 1) if mask.any() else None
        u = self.dropout(self.W_P(x.transpose(2, 1)) + self.W_pos)
        scores = None
        for layer in self.layers:
            u, scores = layer(u, prev=scores)
        z = self.transpose(u)
        if key_padding is not None:
            z = z * torch.logical_not(key_padding.unsqueeze(1))
        return z


class TSTPlus(nn.Sequential):
    """tsai's ``TSTPlus`` on ``(N, c_in, seq_len)``: a Time Series Transformer with tsai's defaults.

    Linear input projection, learned positional encoding, residual-attention encoder layers with
    BatchNorm, GELU feed-forward and dropout, a flatten head; the input is masked in place
    (``x[mask] = 0``) as tsai's ``key_padding_mask="auto"`` does.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        seq_len: int,
        n_layers: int = 3,
        d_model: int = 128,
        n_heads: int = 16,
        d_ff: int = 256,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        fc_dropout: float = 0.0,
    ) -> None:
        backbone = _TSTBackbone(c_in, seq_len, n_layers, d_model, n_heads, d_ff, dropout, attn_dropout)
        head = nn.Sequential(nn.GELU(), nn.Flatten(), nn.Dropout(fc_dropout), nn.Linear(d_model * seq_len, c_out))
        super().__init__()
        self.add_module("backbone", backbone)
        self.add_module("head", head)


def _same_conv1d(ni: int, nf: int, ks: int) -> nn.Conv1d:
    """tsai's ``Conv1d(..., padding='same')`` for an odd kernel, without bias."""
    return nn.Conv1d(ni, nf, ks, padding=ks // 2, bias=False)


def _bn1d(n: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(n)
    nn.init.constant_(bn.weight, 1.0)
    nn.init.constant_(bn.bias, 0.0)
    return bn


class _InceptionModule(nn.Module):
    def __init__(self, ni: int, nf: int, ks: int = 40) -> None:
        super().__init__()
        kss = [ks // (2**i) for i in range(3)]
        kss = [k if k % 2 else k - 1 for k in kss]  # odd kernels
        self.bottleneck = _same_conv1d(ni, nf, 1) if ni > 1 else None
        self.convs = nn.ModuleList(_same_conv1d(nf if ni > 1 else ni, nf, k) for k in kss)
        self.maxconvpool = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1), _same_conv1d(ni, nf, 1))
        self.bn = _bn1d(nf * 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x if self.bottleneck is None else self.bottleneck(x)
        return self.act(self.bn(torch.cat([conv(b) for conv in self.convs] + [self.maxconvpool(x)], dim=1)))


class InceptionTime(nn.Module):
    """tsai's ``InceptionTime`` (Ismail Fawaz et al. 2020) on ``(N, c_in, seq_len)``.

    ``depth`` Inception modules (bottleneck, three odd kernels and a max-pool branch, BatchNorm, ReLU)
    with a residual shortcut every third module (a 1x1 ``ConvBlock``: convolution and BatchNorm), global
    average pooling and a linear layer.
    """

    def __init__(self, c_in: int, c_out: int, seq_len: int | None = None, nf: int = 32, depth: int = 6, ks: int = 40) -> None:
        super().__init__()
        self.depth = depth
        self.inception = nn.ModuleList(_InceptionModule(c_in if d == 0 else nf * 4, nf, ks) for d in range(depth))
        self.shortcut = nn.ModuleList()
        for d in range(2, depth, 3):
            n_in, n_out = (c_in if d == 2 else nf * 4), nf * 4
            self.shortcut.append(_bn1d(n_in) if n_in == n_out else nn.Sequential(_same_conv1d(n_in, n_out, 1), _bn1d(n_out)))
        self.act = nn.ReLU()
        self.fc = nn.Linear(nf * 4, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for d in range(self.depth):
            x = self.inception[d](x)
            if d % 3 == 2:
                res = x = self.act(x + self.shortcut[d // 3](res))
        return self.fc(x.mean(-1))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def warm_up(model: nn.Module, x: Any, passes: int = 3, scale: float = 1.0) -> nn.Module:
    """A few training-mode forward passes (no gradient step): BatchNorm gets running statistics of
    ``x`` as after training, and the model is left in training mode, as a training loop leaves it."""
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(torch.as_tensor(np.asarray(x) * scale, dtype=torch.float32))
    return model


def completeness_bound(att: Any, rtol: float = 1e-3, float32: bool = True) -> np.ndarray:
    """``rtol·|f(x) - f(x0)|`` per sample, plus a round-off term for a float32 model.

    The round-off term is ``1e-4·(|f(x)| + |f(x0)|) + 1e-5·Σ|A|``: a float32 model's outputs carry about
    1e-7 relative error each, and the completeness check subtracts two of them that may be much larger
    than their difference; the map's entries ``A`` carry the error of float32 gradients, and in these
    networks (BatchNorm, attention) they cancel to a sum hundreds of times smaller than ``Σ|A|``.
    1e-5 is about 80 float32 epsilons.
    """
    fx, f0 = np.asarray(att.output, np.float64), np.asarray(att.baseline_output, np.float64)
    bound = rtol * np.abs(fx - f0)
    if float32:
        l1 = np.abs(np.asarray(att.values)).reshape(len(fx), -1).sum(axis=1)
        bound = bound + 1e-4 * (np.abs(fx) + np.abs(f0)) + 1e-5 * l1
    return bound


def assert_complete(att: Any, rtol: float = 1e-3, float32: bool = True) -> None:
    """``|delta| <= completeness_bound(...)`` for every sample of an :class:`cdig.Attribution`."""
    bound = completeness_bound(att, rtol, float32)
    assert np.all(np.abs(att.delta) <= bound), (att.domain, att.delta, bound, att.relative_delta)


def captum_time_ig(
    forward: Any,
    x: Any,
    target: Any = None,
    baseline: Any = None,
    n_steps: int = 128,
    method: str = "gausslegendre",
    **kwargs: Any,
) -> np.ndarray:
    """Captum's ``IntegratedGradients`` in the time domain, as numpy (Gauss-Legendre, 128 points, by default).

    Captum computes Gauss-Legendre nodes with numpy's ``leggauss`` (O(n³)): 512 points cost seconds, so
    models with kinks (ReLU, max-pooling) use ``method="riemann_trapezoid"`` with many cheap steps instead.
    """
    from captum.attr import IntegratedGradients

    x = torch.as_tensor(x)
    base = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype)
    attr = IntegratedGradients(forward).attribute(x, base, target=target, n_steps=n_steps, method=method, **kwargs)
    return attr.detach().numpy()


def state_snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    """Copies of every parameter and buffer (BatchNorm's running statistics, ``num_batches_tracked``),
    and every submodule's ``training`` flag."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()]


def assert_state_equal(model: nn.Module, before: tuple[dict[str, torch.Tensor], list[bool]]) -> None:
    """The model's tensors are bit-identical to ``before`` (``torch.equal``) and its flags the same."""
    tensors, flags = before
    now = model.state_dict()
    assert set(now) == set(tensors)
    changed = [k for k, v in tensors.items() if not torch.equal(now[k], v)]
    assert not changed, f"the call changed {changed}"
    assert [m.training for m in model.modules()] == flags


def relative_l2(a: Any, b: Any) -> float:
    """``||a - b|| / ||b||`` over the whole array."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), math.ulp(1.0)))


# --- Hugging Face configs (transformers imported on use) ----------------------------------------
def patchtst_config(channels: int = 3, length: int = 32) -> Any:
    """A tiny ``PatchTSTConfig``: 3 channels of 32 samples in patches of 8, 2 classes, a horizon of 4."""
    from transformers import PatchTSTConfig

    return PatchTSTConfig(
        num_input_channels=channels,
        context_length=length,
        patch_length=8,
        patch_stride=8,
        d_model=16,
        num_attention_heads=2,
        num_hidden_layers=1,
        ffn_dim=32,
        num_targets=2,
        prediction_length=4,
    )


def time_series_transformer_config() -> Any:
    """A tiny ``TimeSeriesTransformerConfig``: univariate, a context of 16 (+2 lags), a horizon of 4."""
    from transformers import TimeSeriesTransformerConfig

    return TimeSeriesTransformerConfig(
        prediction_length=4,
        context_length=16,
        input_size=1,
        lags_sequence=[1, 2],
        num_time_features=1,
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
    )
