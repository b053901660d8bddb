"""VAMP scores against deeptime (independent implementation), gradients, bad input."""

from __future__ import annotations

import deeptime.decomposition.deep as deep  # the independent reference (dev dependency)
import numpy as np
import pytest
import torch

from gdynbook.vamp import (
    METHODS,
    MODES,
    covariances,
    vamp_loss,
    vamp_score,
    whitened_koopman_matrix,
)


def random_pair(n: int = 500, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = 0.7 * x @ torch.randn(d, d, generator=gen, dtype=torch.float64) + 0.5 * torch.randn(
        n, d, generator=gen, dtype=torch.float64
    )
    return x, y


def softmax_pair(n: int = 800, d: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = random_pair(n, d, seed)
    return torch.softmax(2 * x, dim=1), torch.softmax(2 * y, dim=1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", [random_pair, softmax_pair])
def test_matches_deeptime(method: str, mode: str, make) -> None:
    x, y = make()
    ours = vamp_score(x, y, method=method, mode=mode).item()
    theirs = deep.vamp_score(x, y, method=method, mode=mode).item()
    assert ours == pytest.approx(theirs, rel=1e-8)


def test_whitened_koopman_is_deeptime_transposed() -> None:
    x, y = random_pair()
    ours = whitened_koopman_matrix(x, y)
    theirs = deep.koopman_matrix(x, y)
    torch.testing.assert_close(ours, theirs.T, rtol=1e-10, atol=1e-12)


def test_score_range_for_softmax_states() -> None:
    x, y = softmax_pair(d=4)
    score = vamp_score(x, y).item()
    assert 1.0 <= score <= 4.0 + 1e-9
    # identical lobes: every non-constant direction is perfectly "slow"
    assert vamp_score(x, x).item() == pytest.approx(4.0, rel=1e-6)


def test_float32_inputs_are_scored_in_float64() -> None:
    x, y = softmax_pair()
    score32 = vamp_score(x.float(), y.float())
    assert score32.dtype == torch.float64
    reference = vamp_score(x.float().double(), y.float().double()).item()
    assert score32.item() == pytest.approx(reference, rel=1e-12)


def test_numpy_inputs() -> None:
    x, y = random_pair()
    assert vamp_score(x.numpy(), y.numpy()).item() == pytest.approx(vamp_score(x, y).item())


def test_covariances_by_hand() -> None:
    x, y = random_pair(n=50, d=2)
    c00, c0t, ctt = covariances(x, y)
    xm, ym = x.numpy() - x.numpy().mean(0), y.numpy() - y.numpy().mean(0)
    np.testing.assert_allclose(c0t.numpy(), xm.T @ ym / 49)
    np.testing.assert_allclose(c00.numpy(), np.cov(x.numpy().T))
    np.testing.assert_allclose(ctt.numpy(), np.cov(y.numpy().T))


@pytest.mark.parametrize("method", METHODS)
def test_gradients_match_finite_differences(method: str) -> None:
    x, y = random_pair(n=40, d=3, seed=4)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: vamp_loss(a, b, method=method), (x, y), eps=1e-6, atol=1e-6, rtol=1e-4
    )


@pytest.mark.parametrize("mode", MODES)
def test_gradients_finite_for_softmax_outputs(mode: str) -> None:
    logits = torch.randn(256, 4, dtype=torch.float32, generator=torch.Generator().manual_seed(3))
    logits_t = logits + 0.3 * torch.randn(256, 4, generator=torch.Generator().manual_seed(5))
    logits.requires_grad_(True)
    loss = vamp_loss(torch.softmax(logits, 1), torch.softmax(logits_t, 1), mode=mode)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (torch.zeros(3, 4), torch.zeros(3, 4), "samples for 4 states"),
        (torch.zeros(10, 3), torch.zeros(10, 2), "same shape"),
        (torch.zeros(10), torch.zeros(10), r"\(samples, n_states\)"),
        (torch.full((10, 2), float("nan")), torch.zeros(10, 2), "NaN"),
    ],
)
def test_bad_input(x: torch.Tensor, y: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vamp_score(x, y)


def test_unknown_method_and_mode() -> None:
    x, y = random_pair()
    with pytest.raises(ValueError, match="method"):
        vamp_score(x, y, method="VAMP3")
    with pytest.raises(ValueError, match="mode"):
        vamp_score(x, y, mode="nope")
