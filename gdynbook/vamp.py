"""The VAMP score and loss (torch, differentiable) and the whitened Koopman matrix.

Given feature (state-probability) values χ₀ = χ(x_t) and χ_τ = χ(x_{t+τ}) for many
samples, the variational approach for Markov processes (VAMP; Wu & Noé, J. Nonlinear
Sci. 30, 23 (2020)) scores how well χ spans the slow dynamics. With mean-free
covariances

    C₀₀ = χ̄₀ᵀχ̄₀/(N−1),  C₀τ = χ̄₀ᵀχ̄_τ/(N−1),  C_ττ = χ̄_τᵀχ̄_τ/(N−1)

and the whitened Koopman matrix  K̃ = C₀₀^-½ C₀τ C_ττ^-½ with singular values σᵢ:

* VAMP-1 = 1 + Σ σᵢ (nuclear norm), VAMP-2 = 1 + Σ σᵢ² (squared Frobenius norm),
* VAMP-E = 1 + tr(2 S Uᵀ C₀τ V − S Uᵀ C₀₀ U S Vᵀ C_ττ V) from the SVD.

The +1 counts the constant function, which mean removal takes out of the covariances.
This is the convention of deeptime (``deeptime.decomposition.deep.vamp_score``), and our
numbers agree with it to rtol 1e-8 in float64, VAMP-E included (deeptime pairs the
singular vectors of K̃ᵀ with C₀₀ and C_ττ; we follow it). The original GDyNets code
reported the score *without* the +1, so its VAMP-2 for n softmax states lies in
[0, n − 1] while ours lies in [1, n].

Inverse square roots use a symmetric eigen-decomposition with one of three
regularisations for the (always) rank-deficient covariances of softmax outputs:
``trunc`` drops eigenvalues ≤ ε, ``regularize`` adds ε to the matrix and takes the
absolute values of the eigenvalues, ``clamp`` raises eigenvalues below ε to ε. All of
this runs in float64 whatever the input dtype, with TF32 switched off on GPUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch

Method = Literal["VAMP1", "VAMP2", "VAMPE"]
Mode = Literal["trunc", "regularize", "clamp"]
METHODS = ("VAMP1", "VAMP2", "VAMPE")
MODES = ("trunc", "regularize", "clamp")


@contextmanager
def no_tf32() -> Iterator[None]:
    """Switch TF32 matrix products off (CUDA) for the duration of a block."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def _as_float64(name: str, values: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    if not (tensor.dtype.is_floating_point or tensor.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must be numeric, got {tensor.dtype}.")
    return tensor.to(torch.float64)


def _check_pair(chi_0: torch.Tensor, chi_t: torch.Tensor) -> None:
    if chi_0.ndim != 2 or chi_t.ndim != 2:
        raise ValueError(
            f"chi_0 and chi_t must be (samples, n_states) arrays, got shapes "
            f"{tuple(chi_0.shape)} and {tuple(chi_t.shape)}. Flatten frames and targets first."
        )
    if chi_0.shape != chi_t.shape:
        raise ValueError(
            f"chi_0 and chi_t must have the same shape (the two time-lagged lobes), got "
            f"{tuple(chi_0.shape)} and {tuple(chi_t.shape)}."
        )
    n_samples, n_states = chi_0.shape
    if n_samples <= n_states:
        raise ValueError(
            f"{n_samples} samples for {n_states} states: covariances need more samples than "
            "states. Use a larger batch."
        )
    if not (torch.isfinite(chi_0).all() and torch.isfinite(chi_t).all()):
        raise ValueError(
            "chi_0 or chi_t contains NaN or infinite values; check the model outputs "
            "(a diverged training step) or the input coordinates."
        )


def covariances(
    chi_0: torch.Tensor | np.ndarray, chi_t: torch.Tensor | np.ndarray, remove_mean: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Instantaneous and time-lagged covariances C₀₀, C₀τ, C_ττ in float64 (divided by N − 1).

    Parameters
    ----------
    chi_0, chi_t : tensor or array, shape (samples, n_states)
        Features at t and t + τ.
    remove_mean : bool
        Subtract each lobe's mean first (the VAMP convention).
    """
    x = _as_float64("chi_0", chi_0)
    y = _as_float64("chi_t", chi_t)
    _check_pair(x, y)
    if remove_mean:
        x = x - x.mean(dim=0, keepdim=True)
        y = y - y.mean(dim=0, keepdim=True)
    norm = 1.0 / (x.shape[0] - 1)
    with no_tf32():
        return (x.T @ x) * norm, (x.T @ y) * norm, (y.T @ y) * norm


def inverse_sqrt(matrix: torch.Tensor, epsilon: float = 1e-6, mode: Mode = "trunc") -> torch.Tensor:
    """Symmetric inverse square root M^-½ = V diag(λ^-½) Vᵀ of a covariance matrix.

    Parameters
    ----------
    matrix : torch.Tensor, shape (n, n)
        Symmetric positive semi-definite matrix (float64).
    epsilon : float
        Threshold (``trunc``), shift (``regularize``) or floor (``clamp``).
    mode : {"trunc", "regularize", "clamp"}
        How eigenvalues near zero are treated (see the module docstring).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if mode == "regularize":
        matrix = matrix + epsilon * torch.eye(
            matrix.shape[0], dtype=matrix.dtype, device=matrix.device
        )
    with no_tf32():
        eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
        if mode == "trunc":
            keep = eigenvalues > epsilon
            eigenvalues, eigenvectors = eigenvalues[keep], eigenvectors[:, keep]
        elif mode == "regularize":
            eigenvalues = eigenvalues.abs()
        else:
            eigenvalues = eigenvalues.clamp_min(epsilon)
        return eigenvectors @ torch.diag(eigenvalues.rsqrt()) @ eigenvectors.T


def whitened_koopman_matrix(
    chi_0: torch.Tensor | np.ndarray,
    chi_t: torch.Tensor | np.ndarray,
    epsilon: float = 1e-6,
    mode: Mode = "trunc",
) -> torch.Tensor:
    """The whitened Koopman matrix K̃ = C₀₀^-½ C₀τ C_ττ^-½ (float64).

    deeptime's ``koopman_matrix`` returns the transpose of this. Implied timescales and
    the Chapman–Kolmogorov test do not use it: they use
    :func:`gdynbook.koopman.estimate_koopman` on the state probabilities.
    """
    c00, c0t, ctt = covariances(chi_0, chi_t)
    with no_tf32():
        return inverse_sqrt(c00, epsilon, mode) @ c0t @ inverse_sqrt(ctt, epsilon, mode)


def vamp_score(
    chi_0: torch.Tensor | np.ndarray,
    chi_t: torch.Tensor | np.ndarray,
    method: Method = "VAMP2",
    epsilon: float = 1e-6,
    mode: Mode = "trunc",
) -> torch.Tensor:
    """VAMP score of features at t and t + τ (deeptime's convention, +1 included).

    Parameters
    ----------
    chi_0, chi_t : tensor or array, shape (samples, n_states)
        The two time-lagged lobes, e.g. state probabilities of every target atom in
        frames t and t + τ.
    method : {"VAMP1", "VAMP2", "VAMPE"}
        Which score.
    epsilon : float
        Regularisation of the covariance inverses.
    mode : {"trunc", "regularize", "clamp"}
        How near-zero covariance eigenvalues are treated.

    Returns
    -------
    torch.Tensor
        A float64 scalar, differentiable with respect to the inputs.

    Raises
    ------
    ValueError
        For mismatched or wrong shapes, fewer samples than states, NaN/inf values, an
        unknown method or mode.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    return score_from_covariances(*covariances(chi_0, chi_t), method, epsilon, mode)


def score_from_covariances(
    c00: torch.Tensor,
    c0t: torch.Tensor,
    ctt: torch.Tensor,
    method: Method = "VAMP2",
    epsilon: float = 1e-6,
    mode: Mode = "trunc",
) -> torch.Tensor:
    """The VAMP score (+1 included) from the three mean-free covariances (float64).

    :func:`vamp_score` computes them from one batch; the data-parallel loss of
    :mod:`gdynbook.distributed` from sums over every process's batch.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    with no_tf32():
        c00_isqrt = inverse_sqrt(c00, epsilon, mode)
        ctt_isqrt = inverse_sqrt(ctt, epsilon, mode)
        whitened = c00_isqrt @ c0t @ ctt_isqrt
        if method == "VAMP1":
            score = torch.linalg.matrix_norm(whitened, ord="nuc")
        elif method == "VAMP2":
            score = (whitened**2).sum()
        else:
            # SVD of K̃ᵀ = A S Bᵀ; deeptime pairs A with C₀₀ and B with C_ττ.
            a, s, b_t = torch.linalg.svd(whitened.T, full_matrices=False)
            keep = s > epsilon
            u = c00_isqrt @ a[:, keep]
            v = ctt_isqrt @ b_t.T[:, keep]
            sigma = torch.diag(s[keep])
            score = torch.trace(
                2.0 * sigma @ u.T @ c0t @ v - sigma @ u.T @ c00 @ u @ sigma @ v.T @ ctt @ v
            )
    return 1.0 + score


def vamp_loss(
    chi_0: torch.Tensor | np.ndarray,
    chi_t: torch.Tensor | np.ndarray,
    method: Method = "VAMP2",
    epsilon: float = 1e-6,
    mode: Mode = "trunc",
) -> torch.Tensor:
    """Training loss: the negative :func:`vamp_score` (float64 scalar)."""
    return -vamp_score(chi_0, chi_t, method=method, epsilon=epsilon, mode=mode)
