"""GDyNet: torch/DGL twins, invariances, batch norm, training end to end, checkpoints."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from gdynbook.dataset import TrajectoryDataset
from gdynbook.model import CoordinateVAMPNet, GDyNet, dgl_available
from gdynbook.systems.fcc_sites import simulate_site_hopping
from gdynbook.train import TrainingError, checkpoint_extra, fit, load, predict, save
from gdynbook.trajectory import Trajectory


@pytest.fixture(scope="module")
def hopping():
    return simulate_site_hopping(3000, seed=1)


def small_model(**kwargs) -> GDyNet:
    torch.manual_seed(0)
    options = dict(n_states=2, n_neighbors=12, n_conv=2, atom_fea_len=8, h_fea_len=8)
    options.update(kwargs)
    return GDyNet(**options)


def require_dgl() -> None:
    if not dgl_available():
        if os.environ.get("CI") == "true":
            pytest.fail("DGL is part of the dev install and must import in CI.")
        pytest.skip("DGL is not installed (optional outside CI).")


@pytest.mark.parametrize("conv", ["gdynet", "cgcnn"])
def test_torch_and_dgl_backends_agree(hopping, conv: str) -> None:
    require_dgl()
    traj, _ = hopping
    # float64, so that the comparison tests the algorithm, not float32 summation order
    model = small_model(conv=conv, n_conv=3).double()
    stores = model.prepare([traj[:64]], progress=False)
    items = np.stack([np.zeros(64, int), np.arange(64)], axis=1)
    batch = model.collate(stores, items)
    batch.nbr_distance = batch.nbr_distance.double()
    outputs, grads = {}, {}
    for backend in ("torch", "dgl"):
        model.backend = backend
        model.zero_grad()
        model.train()
        out = model(batch)
        (out[..., 0] ** 2).sum().backward()
        outputs[backend] = out.detach()
        grads[backend] = {
            n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
        }
    torch.testing.assert_close(outputs["torch"], outputs["dgl"], atol=1e-5, rtol=1e-5)
    assert grads["torch"].keys() == grads["dgl"].keys()
    for name in grads["torch"]:
        torch.testing.assert_close(grads["torch"][name], grads["dgl"][name], atol=1e-5, rtol=1e-5)


def test_one_state_dict_for_both_backends(hopping, tmp_path) -> None:
    require_dgl()
    traj, _ = hopping
    model = small_model()
    path = save(model, tmp_path / "m.pt")
    twin, _ = load(path, backend="dgl")
    assert twin.backend == "dgl"
    a = predict(model, traj[:40])[0]
    b = predict(twin, traj[:40])[0]
    np.testing.assert_allclose(a, b, atol=1e-5)


def transformed(traj: Trajectory, kind: str, rng: np.random.Generator) -> Trajectory:
    coords, lattices = traj.coords.copy(), traj.lattices.copy()
    atom_types, targets = traj.atom_types.copy(), traj.target_index.copy()
    if kind == "rotate":
        rotation = Rotation.random(random_state=rng).as_matrix()
        coords, lattices = coords @ rotation.T, lattices @ rotation.T
    elif kind == "translate":
        coords = coords + rng.normal(size=3) * 3.0
    elif kind == "permute":
        order = np.concatenate([[0], 1 + rng.permutation(traj.n_atoms - 1)])
        coords, atom_types = coords[:, order], atom_types[order]
    elif kind == "image":
        shifts = rng.integers(-2, 3, size=(traj.n_frames, traj.n_atoms, 3))
        coords = coords + np.einsum("fnj,fjk->fnk", shifts.astype(float), lattices)
    return Trajectory(coords, lattices, atom_types, targets, traj.time_step_ps)


@pytest.mark.parametrize("kind", ["rotate", "translate", "permute", "image"])
def test_gdynet_is_invariant(hopping, kind: str) -> None:
    traj, _ = hopping
    traj = traj[:50]
    model = small_model(n_neighbors=16)
    model.eval()
    reference = predict(model, traj)[0]
    changed = predict(model, transformed(traj, kind, np.random.default_rng(2)))[0]
    np.testing.assert_allclose(changed, reference, atol=1e-5)


def test_coordinate_baseline_is_not_invariant(hopping) -> None:
    traj, _ = hopping
    traj = traj[:50]
    torch.manual_seed(0)
    model = CoordinateVAMPNet(n_states=2)
    reference = predict(model, traj)[0]
    moved = predict(model, transformed(traj, "translate", np.random.default_rng(2)))[0]
    assert np.abs(moved - reference).max() > 1e-3


def test_batch_norm_sees_both_halves_and_predict_is_eval(hopping, monkeypatch) -> None:
    traj, _ = hopping
    model = small_model()
    seen = []
    original = model.forward

    def recording_forward(batch):
        seen.append((batch.n_frames, model.training))
        return original(batch)

    monkeypatch.setattr(model, "forward", recording_forward)
    fit(
        model,
        TrajectoryDataset([traj[:400]], validation_fraction=0.25),
        lag_frames=2,
        n_epochs=1,
        batch_size=64,
        progress=False,
    )
    training_calls = [n for n, training in seen if training]
    assert training_calls and all(n == 2 * 64 for n in training_calls[:-1])
    seen.clear()
    full = predict(model, traj[:100])[0]
    assert seen and not any(training for _, training in seen)
    # in eval mode a frame's output does not depend on what else is in the batch
    np.testing.assert_allclose(predict(model, traj[:100], batch_size=7)[0], full, atol=1e-6)


def test_training_recovers_the_two_site_types(hopping) -> None:
    traj, site_type = hopping
    model = small_model(atom_fea_len=16, h_fea_len=16)
    dataset = TrajectoryDataset([traj], validation_fraction=0.2)
    history = fit(
        model, dataset, lag_frames=2, n_epochs=10, batch_size=256, lr=3e-3, progress=False, seed=0
    )
    probs = predict(model, traj)[0][:, 0, :]
    assert abs(np.corrcoef(probs[:, 1], site_type)[0, 1]) > 0.95
    # Exact answer: a two-state chain with λ = 1 − p_TO − p_OT per frame scores
    # VAMP-2 = 1 + λ^(2τ) with its indicator functions (here 1 + 0.88⁴ = 1.600).
    assert history.validation_score[history.best_epoch] == pytest.approx(1 + 0.88**4, abs=0.06)


def test_same_seed_same_numbers(hopping) -> None:
    traj, _ = hopping
    runs = []
    for _ in range(2):
        model = small_model()
        history = fit(
            model, [traj[:300]], lag_frames=1, n_epochs=2, batch_size=64, progress=False, seed=5
        )
        runs.append((history.train_score, predict(model, traj[:20])[0]))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_checkpoint_round_trip_and_refusals(hopping, tmp_path) -> None:
    traj, _ = hopping
    model = small_model()
    fit(model, [traj[:200]], lag_frames=1, n_epochs=1, batch_size=64, progress=False)
    path = save(model, tmp_path / "model.pt", extra=checkpoint_extra(1, 0.5))
    loaded, extra = load(path)
    assert extra == {"lag_frames": 1, "time_step_ps": 0.5, "lag_ps": 0.5}
    np.testing.assert_array_equal(predict(loaded, traj[:30])[0], predict(model, traj[:30])[0])
    payload = torch.load(path, weights_only=True)
    payload["format"] = 0
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="Retrain"):
        load(tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable gdynbook checkpoint"):
        load(tmp_path / "junk.pt")


def test_nan_loss_stops_with_advice(hopping, monkeypatch) -> None:
    traj, _ = hopping
    from gdynbook import distributed

    monkeypatch.setattr(
        distributed, "vamp_score", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True)
    )
    with pytest.raises(TrainingError, match="lower the learning rate"):
        fit(small_model(), [traj[:200]], lag_frames=1, n_epochs=1, progress=False)


def test_lag_longer_than_training_data(hopping) -> None:
    traj, _ = hopping
    with pytest.raises(ValueError, match="not shorter than the longest training segment"):
        fit(small_model(), [traj[:50]], lag_frames=60, n_epochs=1, progress=False)


# ---------------------------------------------------------------- dataset
def make_runs(n: int, frames: int = 40) -> list[Trajectory]:
    return [simulate_site_hopping(frames, seed=s)[0] for s in range(n)]


def test_split_by_whole_trajectories() -> None:
    dataset = TrajectoryDataset(make_runs(5), validation_fraction=0.2, test_fraction=0.2)
    assert dataset.split_by == "trajectories"
    used = [seg.trajectory for part in dataset.splits.values() for seg in part]
    assert sorted(used) == [0, 1, 2, 3, 4]
    assert all(seg.start == 0 and seg.stop == 40 for seg in dataset.splits["test"])


def test_split_by_time_blocks_and_pairs_stay_inside() -> None:
    dataset = TrajectoryDataset(make_runs(2, 100), validation_fraction=0.2, test_fraction=0.1)
    assert dataset.split_by == "time blocks"
    train = dataset.pairs("train", 5)
    validation = dataset.pairs("validation", 5)
    assert train[:, 1].max() + 5 < 70
    assert validation[:, 1].min() >= 70 and validation[:, 1].max() + 5 < 90
    for split in ("train", "validation", "test"):
        for t, frame in dataset.pairs(split, 5):
            seg = next(
                s for s in dataset.splits[split] if s.trajectory == t and s.start <= frame < s.stop
            )
            assert frame + 5 < seg.stop


def test_coordinate_features() -> None:
    traj = make_runs(1, 10)[0]
    periodic = CoordinateVAMPNet(encoding="periodic").prepare([traj])[0]
    assert periodic.shape == (10, 1, 6)
    np.testing.assert_allclose(periodic[..., :3] ** 2 + periodic[..., 3:] ** 2, 1.0, rtol=1e-6)
    cartesian = CoordinateVAMPNet(encoding="cartesian").prepare([traj])[0]
    np.testing.assert_allclose(cartesian[:, 0], traj.wrap().coords[:, 0], rtol=1e-5)


def test_a_last_batch_with_fewer_samples_than_states_is_skipped(hopping) -> None:
    traj, _ = hopping
    # 269 training pairs in batches of 266: the last batch has 3 pairs of one target,
    # fewer samples than the 4 states; it is skipped instead of stopping training
    history = fit(
        small_model(n_states=4),
        [traj[:300]],
        lag_frames=1,
        n_epochs=1,
        batch_size=266,
        progress=False,
    )
    assert len(history.train_score) == 1 and np.isfinite(history.train_score[0])
    with pytest.raises(ValueError, match="pairs_per_epoch"):
        fit(
            small_model(), [traj[:300]], lag_frames=1, n_epochs=1, pairs_per_epoch=1, progress=False
        )
