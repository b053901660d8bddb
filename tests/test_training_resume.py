"""Training that survives: checkpoints during training, resume = uninterrupted, signals."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from gdynbook.model import GDyNet
from gdynbook.systems.fcc_sites import simulate_site_hopping
from gdynbook.train import Stage, TrainingInterrupted, fit


@pytest.fixture(scope="module")
def hopping():
    return simulate_site_hopping(3000, seed=1)


OPTIONS = dict(
    lag_frames=1,
    batch_size=64,
    pairs_per_epoch=600,
    progress=False,
    seed=3,
    patience=None,
    schedule=[Stage(n_epochs=2, lr=5e-3), Stage(n_epochs=2, lr=1e-3, loss="VAMPE")],
)


def small_model(**kwargs) -> GDyNet:
    torch.manual_seed(0)
    options = dict(n_states=2, n_neighbors=12, n_conv=2, atom_fea_len=8, h_fea_len=8)
    options.update(kwargs)
    return GDyNet(**options)


def parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def interrupt_at(target_epoch: int, target_step: int):
    """An on_step callback that sends this process SIGINT at one step."""

    def on_step(epoch: int, step: int, _loss: float) -> None:
        if (epoch, step) == (target_epoch, target_step):
            signal.raise_signal(signal.SIGINT)

    return on_step


@pytest.mark.parametrize(("epoch", "step"), [(0, 3), (1, 10), (2, 1), (3, 9)])
def test_resumed_training_equals_uninterrupted(hopping, tmp_path: Path, epoch: int, step: int):
    traj, _ = hopping
    data = [traj[:1500], traj[1500:]]
    reference = small_model()
    reference_history = fit(reference, data, **OPTIONS)
    expected = parameters(reference)

    checkpoint = tmp_path / "training.pt"
    interrupted = small_model()
    with pytest.raises(TrainingInterrupted) as caught:
        fit(
            interrupted,
            data,
            checkpoint=checkpoint,
            handle_signals=True,
            on_step=interrupt_at(epoch, step),
            **OPTIONS,
        )
    assert caught.value.exit_code == 130 and caught.value.epoch == epoch
    assert checkpoint.is_file()
    # the handler is gone again: SIGINT is Python's default once more
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resumed = small_model(n_states=2)
    torch.manual_seed(99)  # whatever state the process is in, the checkpoint restores it
    history = fit(resumed, data, checkpoint=checkpoint, resume=True, **OPTIONS)
    assert history.train_score == pytest.approx(reference_history.train_score, rel=1e-6)
    assert history.best_epoch == reference_history.best_epoch
    for name, value in parameters(resumed).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=1e-7)


def test_checkpoints_within_an_epoch_and_a_refused_mismatch(hopping, tmp_path: Path) -> None:
    traj, _ = hopping
    data = [traj[:1500], traj[1500:]]
    checkpoint = tmp_path / "training.pt"
    seen = []

    def on_step(epoch: int, step: int, _loss: float) -> None:
        if checkpoint.is_file():
            seen.append((epoch, step, checkpoint.stat().st_mtime_ns))

    fit(
        small_model(),
        data,
        checkpoint=checkpoint,
        checkpoint_every_s=0.0,
        on_step=on_step,
        **OPTIONS,
    )
    assert len({mtime for *_, mtime in seen}) > 4  # rewritten within epochs, not only after
    with pytest.raises(ValueError, match="another training"):
        fit(small_model(), data, checkpoint=checkpoint, resume=True, **{**OPTIONS, "lag_frames": 2})
    # a finished training resumes to the same end at once
    done = small_model()
    history = fit(done, data, checkpoint=checkpoint, resume=True, **OPTIONS)
    assert len(history.train_score) == 4


def test_a_checkpoint_of_another_gdynbook_version_says_so(hopping, tmp_path: Path) -> None:
    from gdynbook import __version__

    traj = hopping[0]
    model = GDyNet(n_states=2, n_neighbors=8, n_conv=1, atom_fea_len=8, h_fea_len=8)
    checkpoint = tmp_path / "state.pt"
    options = dict(
        lag_frames=2, n_epochs=1, batch_size=64, device="cpu", progress=False, checkpoint=checkpoint
    )
    fit(model, [traj[:200]], **options)
    state = torch.load(checkpoint, weights_only=False)
    state["gdynbook_version"] = "0.0.1"
    torch.save(state, checkpoint)
    with pytest.raises(ValueError, match=f"written by gdynbook 0.0.1, this is {__version__}"):
        fit(model, [traj[:200]], resume=True, **options)


def test_patience_ends_a_stage_not_the_schedule(hopping, tmp_path: Path) -> None:
    """Patience 0 ends every stage after its first epoch: both stages still run, and a
    run interrupted in the second stage resumes to the same end."""
    traj, _ = hopping
    data = [traj[:1500], traj[1500:]]
    options = {
        **OPTIONS,
        "patience": 0,
        "schedule": [Stage(n_epochs=3, lr=5e-3), Stage(n_epochs=3, lr=1e-3, loss="VAMPE")],
    }
    reference = small_model()
    history = fit(reference, data, **options)
    assert history.stage == [0, 1]
    assert history.stopped_early

    checkpoint = tmp_path / "training.pt"
    with pytest.raises(TrainingInterrupted):
        fit(
            small_model(),
            data,
            checkpoint=checkpoint,
            handle_signals=True,
            on_step=interrupt_at(1, 2),
            **options,
        )
    resumed = small_model()
    again = fit(resumed, data, checkpoint=checkpoint, resume=True, **options)
    assert again.stage == [0, 1]
    assert again.train_score == pytest.approx(history.train_score, rel=1e-6)
    expected = parameters(reference)
    for name, value in parameters(resumed).items():
        torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=1e-7)
