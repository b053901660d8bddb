"""The exact VAMP loss over 2 processes (gloo, CPU) equals one process on the union batch.

Each test starts two worker processes with a ``file://`` rendezvous and a timeout, so a
hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from gdynbook import distributed
from gdynbook.vamp import vamp_score

WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    import torch.distributed as dist

    sys.path.insert(0, {root!r})
    from gdynbook import distributed
    from tests.test_distributed import bad_batch_case, coordinate_case, loss_case, steps_case

    rank, folder, task = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{{folder}}/rendezvous", rank=rank,
                            world_size=2)
    torch.set_num_threads(1)
    with distributed.data_parallel():
        assert distributed.world_size() == 2 and distributed.rank() == rank
        if task == "loss":
            result = loss_case(rank, 2)
        elif task == "bad":
            result = bad_batch_case(rank)
        elif task == "coordinate":
            result = coordinate_case(rank, 2)
        else:
            result = steps_case(rank, 2, task == "steps64")
    np.savez(f"{{folder}}/rank{{rank}}.npz", **result)
    dist.destroy_process_group()
    """
)


def run_two_processes(tmp_path: Path, task: str) -> list[dict[str, np.ndarray]]:
    root = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=root))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path), task],
            cwd=root,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    errors = []
    for worker in workers:
        try:
            _, err = worker.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("a worker hung (timeout): the processes did not agree")
        if worker.returncode != 0:
            errors.append(err)
    assert not errors, "\n".join(errors)
    out = []
    for rank in range(2):
        with np.load(tmp_path / f"rank{rank}.npz") as values:
            out.append({k: values[k] for k in values.files})
    return out


# ---------------------------------------------------------------------- cases
def fixed_lobes() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(2, 101, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return torch.from_numpy(probabilities[0]), torch.from_numpy(probabilities[1])


def shard(n: int, rank: int, world: int) -> slice:
    cuts = np.linspace(0, n, world + 1).round().astype(int)
    cuts[1] = 37 if world == 2 else cuts[1]  # unequal shards on purpose
    return slice(int(cuts[rank]), int(cuts[rank + 1]))


def loss_case(rank: int, world: int) -> dict[str, np.ndarray]:
    """VAMP-2 and VAMP-E of this rank's shard of the fixed lobes, with dL/dχ."""
    chi_0, chi_t = fixed_lobes()
    rows = shard(chi_0.shape[0], rank, world)
    result = {}
    for method in ("VAMP2", "VAMPE"):
        x = chi_0[rows].clone().requires_grad_(True)
        y = chi_t[rows].clone().requires_grad_(True)
        score = distributed.vamp_score(x, y, method=method)
        distributed.share(score).backward()
        result[f"{method}_score"] = score.detach().numpy()
        result[f"{method}_grad_0"] = x.grad.numpy()
        result[f"{method}_grad_t"] = y.grad.numpy()
    return result


def steps_case(rank: int, world: int, float64: bool = False) -> dict[str, np.ndarray]:
    """Three optimiser steps of a small GDyNet on this rank's shard of a fixed batch.

    SGD with momentum, not Adam: Adam divides each gradient component by its running
    RMS, so a component whose gradient is at float32 rounding level takes a full-size
    step in an arbitrary direction, and the test would compare summation orders of
    float32 sums instead of the method.
    """
    from gdynbook.model import GDyNet
    from gdynbook.systems.fcc_sites import simulate_site_hopping

    traj, _ = simulate_site_hopping(120, seed=1)
    torch.manual_seed(0)
    model = GDyNet(n_states=2, n_neighbors=8, n_conv=2, atom_fea_len=8, h_fea_len=8)
    stores = model.prepare([traj], progress=False)
    if float64:
        import dataclasses

        model.double()
        collate = model.collate

        def collate64(stores, items):
            batch = collate(stores, items)
            return dataclasses.replace(batch, nbr_distance=batch.nbr_distance.double())

        model.collate = collate64
    return _three_sgd_steps(model, stores, rank, world)


def _three_sgd_steps(model, stores, rank: int, world: int) -> dict[str, np.ndarray]:
    """Three SGD steps on this rank's shard of a fixed batch of 60 pairs (lag 1 frame);
    the parameters after them and the three VAMP-2 scores."""
    from gdynbook.train import _joint_forward, _shift

    items = np.stack([np.zeros(60, dtype=np.int64), np.arange(0, 120, 2)], axis=1)
    mine = items[shard(len(items), rank, world)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    scores = []
    for _ in range(3):
        chi_0, chi_t = _joint_forward(model, stores, mine, _shift(mine, 1), torch.device("cpu"))
        loss = -distributed.vamp_score(chi_0, chi_t)
        optimizer.zero_grad()
        distributed.share(loss).backward()
        distributed.sum_gradients(model)
        optimizer.step()
        scores.append(-loss.item())
    out = {f"param_{k}": v.detach().numpy() for k, v in model.state_dict().items()}
    out["scores"] = np.array(scores)
    return out


def coordinate_case(rank: int, world: int) -> dict[str, np.ndarray]:
    """Three SGD steps of the coordinate baseline (float64) on this rank's shard: its
    input batch norm must use the statistics of every process's rows."""
    from gdynbook.model import CoordinateVAMPNet
    from gdynbook.systems.fcc_sites import simulate_site_hopping

    traj, _ = simulate_site_hopping(120, seed=1)
    torch.manual_seed(0)
    model = CoordinateVAMPNet(n_states=2, hidden=8).double()
    stores = [s.astype(np.float64) for s in model.prepare([traj], progress=False)]
    return _three_sgd_steps(model, stores, rank, world)


def bad_batch_case(rank: int) -> dict[str, np.ndarray]:
    """Rank 1's network returns NaN from its third step on; both ranks must stop with
    the same named error."""
    from gdynbook.model import GDyNet
    from gdynbook.systems.fcc_sites import simulate_site_hopping
    from gdynbook.train import TrainingError, fit

    traj, _ = simulate_site_hopping(200, seed=1)
    torch.manual_seed(0)
    model = GDyNet(n_states=2, n_neighbors=8, n_conv=1, atom_fea_len=8, h_fea_len=8)
    forward, calls = model.forward, [0]

    def poisoned(batch):
        calls[0] += 1
        out = forward(batch)
        return out * float("nan") if rank == 1 and calls[0] > 2 else out

    model.forward = poisoned
    try:
        fit(model, [traj], lag_frames=1, n_epochs=2, batch_size=32, progress=False)
    except TrainingError as exc:
        return {"error": np.array(str(exc))}
    return {"error": np.array("")}


# ---------------------------------------------------------------------- tests
def test_sums_give_the_batch_covariances_and_the_score() -> None:
    chi_0, chi_t = fixed_lobes()
    with distributed.data_parallel():  # no process group: a world of one
        assert distributed.world_size() == 1
        for method in ("VAMP1", "VAMP2", "VAMPE"):
            np.testing.assert_allclose(
                distributed.vamp_score(chi_0, chi_t, method=method).item(),
                vamp_score(chi_0, chi_t, method=method).item(),
                rtol=1e-12,
            )
    with distributed.data_parallel(), pytest.raises(ValueError, match="more samples"):
        distributed.vamp_score(chi_0[:3], chi_t[:3])


def test_loss_and_gradients_over_two_processes_equal_one_process(tmp_path: Path) -> None:
    ranks = run_two_processes(tmp_path, "loss")
    chi_0, chi_t = fixed_lobes()
    for method in ("VAMP2", "VAMPE"):
        x = chi_0.clone().requires_grad_(True)
        y = chi_t.clone().requires_grad_(True)
        score = vamp_score(x, y, method=method)
        score.backward()
        for rank, values in enumerate(ranks):
            np.testing.assert_allclose(values[f"{method}_score"], score.item(), rtol=0, atol=1e-10)
            rows = shard(chi_0.shape[0], rank, 2)
            np.testing.assert_allclose(
                values[f"{method}_grad_0"], x.grad[rows].numpy(), rtol=0, atol=1e-10
            )
            np.testing.assert_allclose(
                values[f"{method}_grad_t"], y.grad[rows].numpy(), rtol=0, atol=1e-10
            )


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_three_optimiser_steps_over_two_processes_equal_one_process(
    tmp_path: Path, precision: str
) -> None:
    """In float64 the two-process run is the one-process run (to 1e-9); in float32 the
    summation order of float32 sums differs between the two, and three steps carry it to
    a few 1e-6 on weights of order 0.1."""
    float64 = precision == "float64"
    ranks = run_two_processes(tmp_path, "steps64" if float64 else "steps")
    torch.set_num_threads(1)
    with distributed.data_parallel():
        single = steps_case(0, 1, float64)
    tolerance = dict(rtol=1e-9, atol=1e-12) if float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ranks[0]["scores"], single["scores"], **tolerance)
    for name, value in single.items():
        if name.startswith("param_"):
            np.testing.assert_array_equal(ranks[0][name], ranks[1][name])  # ranks agree
            np.testing.assert_allclose(ranks[0][name], value, err_msg=name, **tolerance)


def test_the_coordinate_baseline_over_two_processes_equals_one_process(tmp_path: Path) -> None:
    ranks = run_two_processes(tmp_path, "coordinate")
    torch.set_num_threads(1)
    with distributed.data_parallel():
        single = coordinate_case(0, 1)
    np.testing.assert_allclose(ranks[0]["scores"], single["scores"], rtol=1e-9, atol=1e-12)
    for name, value in single.items():
        if name.startswith("param_"):
            np.testing.assert_allclose(ranks[1][name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def test_a_bad_batch_on_one_process_stops_both_with_the_same_error(tmp_path: Path) -> None:
    ranks = run_two_processes(tmp_path, "bad")
    messages = [str(values["error"]) for values in ranks]
    assert messages[0] == messages[1] != ""
    assert "lower the learning rate" in messages[0]


# ---------------------------------------------------------------------- training, launched
def test_two_process_training_reaches_the_one_process_score(tmp_path: Path) -> None:
    """`torchrun --nproc-per-node 2 -m gdynbook train` (gloo) against one process: the
    validation VAMP-2 within 2 %, one set of output files, the world size recorded."""
    import json
    import os

    from gdynbook.systems.dimers import DimerSimulation, simulate_dimers

    files = [
        str(t.save(tmp_path / f"run{i}.npz"))
        for i, t in enumerate(simulate_dimers(DimerSimulation(n_frames=600, n_replicas=3, seed=3)))
    ]
    common = [
        "train",
        *files,
        "--n-states",
        "2",
        "--lag-ps",
        "5",
        "--n-conv",
        "1",
        "--n-epochs",
        "12",
        "--batch-size",
        "128",
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    runs = {
        "one": [sys.executable, "-m", "gdynbook", *common, "--output", str(tmp_path / "one")],
        "two": [
            str(torchrun),
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "gdynbook",
            *common,
            "--output",
            str(tmp_path / "two"),
        ],
    }
    for name, command in runs.items():
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: training hung")
        assert done.returncode == 0, done.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "config.json").read_text())
    two = json.loads((tmp_path / "two" / "config.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert two["vamp2_validation"] == pytest.approx(one["vamp2_validation"], rel=0.02), (
        one["history"]["validation_score"],
        two["history"]["validation_score"],
    )
    assert (tmp_path / "two" / "model.pt").is_file()


@pytest.mark.parametrize(
    ("device", "cuda_present", "backend"),
    [("cuda:1", True, "nccl"), ("cuda", True, "nccl"), ("auto", True, "nccl"),
     ("cpu", True, "gloo"), ("auto", False, "gloo")],
)
def test_the_backend_follows_the_device(monkeypatch, device, cuda_present, backend) -> None:
    import torch.distributed as dist

    from gdynbook import distributed

    chosen, gpus = [], []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda name, **kw: chosen.append(name))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_present)
    monkeypatch.setattr(torch.cuda, "set_device", gpus.append)
    assert distributed.init_from_environment(device) is True
    assert chosen == [backend]
    assert gpus == ([1] if backend == "nccl" else [])


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_batch_norm_matches_torch_in_float64_even_far_from_zero(offset: float) -> None:
    """One process: the output, the running statistics and the gradients of the shared
    batch norm are torch's batch norm computed in float64, to float32 rounding, also for
    channels whose mean is far above their spread (the statistics are taken on centred
    rows)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    rows = (offset + torch.randn(4000, 3) * torch.tensor([1.0, 0.5, 2.0])).float()
    ours, reference = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3).double()
    with torch.no_grad():
        ours.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
        ours.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
        reference.weight.copy_(ours.weight)
        reference.bias.copy_(ours.bias)
    x = rows.clone().requires_grad_(True)
    x64 = rows.double().requires_grad_(True)
    out = distributed.batch_norm(ours, x)
    expected = F.batch_norm(
        x64, reference.running_mean, reference.running_var, reference.weight, reference.bias,
        training=True, momentum=0.1, eps=ours.eps,
    )
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), atol=2e-4)
    np.testing.assert_allclose(ours.running_mean.numpy(), reference.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.running_var.numpy(), reference.running_var.numpy(), rtol=1e-4)
    assert int(ours.num_batches_tracked) == 1
    weights = torch.linspace(-1.0, 1.0, 4000)[:, None]
    (out * weights).sum().backward()
    (expected * weights.double()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), reference.weight.grad.numpy(), rtol=1e-3)
    np.testing.assert_allclose(
        ours.bias.grad.numpy(), reference.bias.grad.numpy(), rtol=1e-3, atol=1e-3
    )
