"""The exact VAMP loss over several processes: all-reduced covariance sums.

The VAMP score is a statistic of the whole batch — a function of the mean-free
covariances C₀₀, C₀τ, C_ττ — not a sum over samples. Plain data-parallel training (each
process's loss on its own shard, gradients averaged) therefore optimises another,
noisier objective. Here every process computes the *sums* its shard contributes,

    n,  Σχ₀,  Σχ_τ,  Σχ₀χ₀ᵀ,  Σχ₀χ_τᵀ,  Σχ_τχ_τᵀ        (float64)

they are summed across processes by a differentiable all-reduce, and every process
computes the same score of the union batch. The objective is the union-batch loss L,
which every process holds a copy of; each process back-propagates its share
L / (number of processes) (:func:`share`), and the all-reduce's backward *sums* the
gradients arriving from every process. That is the right rule for the loss (the shares
add up to L) and for batch-normalisation statistics (:func:`batch_norm`: all-reduced
with the node mask, each process's rows contribute their part of dL/dstatistics); it gives
each process dL/dχ of its own samples exactly as one process would on the union batch.
The parameter gradients are then summed across processes (:func:`sum_gradients`).

Inside :func:`data_parallel` the encoder and ``fit`` use these paths; with one process
(no process group) the all-reduces do nothing, so the single-process run is the same
code with a world size of 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from gdynbook.vamp import Method, Mode, score_from_covariances

_STATE: dict[str, Any] = {"active": False, "group": None}


def active() -> bool:
    """Whether the data-parallel paths are switched on (:func:`data_parallel`)."""
    return bool(_STATE["active"])


def group() -> Any:
    """The process group in use (``None``: the default group, or none at all)."""
    return _STATE["group"]


def world_size() -> int:
    """Processes taking part (1 without an initialised process group)."""
    import torch.distributed as dist

    if not (_STATE["active"] and dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(_STATE["group"]))


def rank() -> int:
    """This process's rank (0 without a process group)."""
    import torch.distributed as dist

    if world_size() == 1:
        return 0
    return int(dist.get_rank(_STATE["group"]))


@contextmanager
def data_parallel(group: Any = None) -> Iterator[None]:
    """Switch on the all-reduced loss and batch norm (``group``: a process group, default
    the world)."""
    previous = dict(_STATE)
    _STATE.update(active=True, group=group)
    try:
        yield
    finally:
        _STATE.update(previous)


def _all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """All-reduce ``tensor`` in place over the group; NCCL only takes CUDA tensors, so a
    CPU tensor makes a round trip through the current GPU there."""
    import torch.distributed as dist

    reduce_op = dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX
    group = _STATE["group"]
    if dist.get_backend(group) == "nccl" and tensor.device.type != "cuda":
        moved = tensor.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(moved, op=reduce_op, group=group)
        tensor.copy_(moved.to(tensor.device))
    else:
        dist.all_reduce(tensor, op=reduce_op, group=group)
    return tensor


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over processes; backward, sum the incoming gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = tensor.clone()
        if world_size() > 1:
            _all_reduce_(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = grad.clone()
        if world_size() > 1:
            _all_reduce_(out)
        return out


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``tensor`` over the processes (identity with one)."""
    return _AllReduceSum.apply(tensor)


def init_from_environment(device: str = "auto") -> bool:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` >
    1); return whether there is one. The backend follows the device: NCCL on GPUs (each
    process on the GPU of its ``LOCAL_RANK``), gloo on CPUs.

    Any CUDA device string (``"cuda"``, ``"cuda:1"``) means the GPUs: under torchrun each
    process takes the GPU of its ``LOCAL_RANK``, whatever index the string names
    (``CUDA_VISIBLE_DEVICES`` chooses which GPUs a node's processes see)."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if dist.is_initialized():
        return True
    use_cuda = torch.cuda.is_available() and (device == "auto" or str(device).startswith("cuda"))
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")
    return True


def barrier() -> None:
    """Wait for every process (no-op with one)."""
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier(group=_STATE["group"])


def share(loss: torch.Tensor) -> torch.Tensor:
    """This process's share of a loss every process holds a copy of: ``loss / world_size``
    (back-propagate this one; report ``loss``)."""
    return loss / world_size()


def covariance_sums(chi_0: torch.Tensor, chi_t: torch.Tensor) -> torch.Tensor:
    """This shard's sums, one float64 vector: n, Σχ₀, Σχ_τ, Σχ₀χ₀ᵀ, Σχ₀χ_τᵀ, Σχ_τχ_τᵀ."""
    x, y = chi_0.to(torch.float64), chi_t.to(torch.float64)
    count = torch.full((1,), float(x.shape[0]), dtype=torch.float64, device=x.device)
    return torch.cat(
        [
            count,
            x.sum(0),
            y.sum(0),
            (x.T @ x).reshape(-1),
            (x.T @ y).reshape(-1),
            (y.T @ y).reshape(-1),
        ]
    )


def covariances_from_sums(
    sums: torch.Tensor, n_states: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean-free C₀₀, C₀τ, C_ττ (divided by N − 1) from :func:`covariance_sums`."""
    k = n_states
    n = sums[0]
    s0, st = sums[1 : 1 + k], sums[1 + k : 1 + 2 * k]
    blocks = sums[1 + 2 * k :].reshape(3, k, k)
    m0, mt = s0 / n, st / n
    norm = 1.0 / (n - 1)
    c00 = (blocks[0] - n * torch.outer(m0, m0)) * norm
    c0t = (blocks[1] - n * torch.outer(m0, mt)) * norm
    ctt = (blocks[2] - n * torch.outer(mt, mt)) * norm
    return c00, c0t, ctt


def vamp_score(
    chi_0: torch.Tensor,
    chi_t: torch.Tensor,
    method: Method = "VAMP2",
    epsilon: float = 1e-6,
    mode: Mode = "trunc",
) -> torch.Tensor:
    """The VAMP score of the union of every process's batch (+1 included, float64).

    Differentiable; every process gets the same value.

    Raises
    ------
    ValueError
        If the union batch has no more samples than states.
    """
    sums = all_reduce_sum(covariance_sums(chi_0, chi_t))
    n_states = chi_0.shape[-1]
    if float(sums[0].detach()) <= n_states:
        raise ValueError(
            f"{int(sums[0].detach())} samples over all processes for {n_states} states: "
            "covariances need more samples than states. Use a larger batch."
        )
    return score_from_covariances(*covariances_from_sums(sums, n_states), method, epsilon, mode)


def batch_norm(bn: torch.nn.BatchNorm1d, selected: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm of ``selected`` rows (…, C) with the statistics of every
    process's rows; updates the running averages as ``torch.nn.functional.batch_norm``."""
    # statistics in float64 without a float64 copy of the rows (the rows of an edge batch
    # norm are tens of millions: a copy would double the cost of a training step); two
    # passes, the second over centred rows, so a channel whose mean is far above its spread
    # keeps its digits
    count = torch.full((1,), float(selected.shape[0]), dtype=torch.float64, device=selected.device)
    sums = all_reduce_sum(torch.cat([count, selected.sum(0, dtype=torch.float64)]))
    n = sums[0]
    if float(n.detach()) == 0:  # no row anywhere: nothing to normalise or to learn from
        return selected
    mean = sums[1:] / n
    centred = selected - mean.to(selected.dtype)
    variance = all_reduce_sum((centred * centred).sum(0, dtype=torch.float64)) / n
    with torch.no_grad():
        momentum = bn.momentum if bn.momentum is not None else 0.1
        unbiased = variance * n / torch.clamp(n - 1, min=1.0)
        bn.running_mean.mul_(1 - momentum).add_(momentum * mean.to(bn.running_mean.dtype))
        bn.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(bn.running_var.dtype))
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
    scale = torch.rsqrt(variance + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
        return centred * scale.to(selected.dtype) + bn.bias
    return centred * scale.to(selected.dtype)


def sum_gradients(model: torch.nn.Module) -> None:
    """Sum every parameter's gradient over the processes (after ``backward``)."""
    if world_size() == 1:
        return
    for parameter in model.parameters():
        if parameter.grad is not None:
            _all_reduce_(parameter.grad)


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (for stop/skip decisions all must share)."""
    if world_size() == 1:
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0])
    return bool(_all_reduce_(value, op="max").item() > 0)


__all__ = [
    "active",
    "all_reduce_sum",
    "any_process",
    "batch_norm",
    "covariance_sums",
    "covariances_from_sums",
    "barrier",
    "group",
    "data_parallel",
    "init_from_environment",
    "rank",
    "share",
    "sum_gradients",
    "vamp_score",
    "world_size",
]
