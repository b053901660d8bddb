"""The encoder contract, its registry, GDyNet's settings object and checkpoint extras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gdynbook import data
from gdynbook.cache import atomic_path, atomic_savefig, atomic_torch_save
from gdynbook.model import (
    CoordinateVAMPNet,
    Encoder,
    GDyNet,
    GDyNetConfig,
    encoder_class,
    register_encoder,
    registered_encoders,
)
from gdynbook.train import CHECKPOINT_FORMAT, checkpoint_extra, load, migrate_extra, save


def test_both_encoders_satisfy_the_contract_and_are_registered() -> None:
    assert isinstance(GDyNet(n_states=2), Encoder)
    assert isinstance(CoordinateVAMPNet(), Encoder)
    assert {"GDyNet", "CoordinateVAMPNet"} <= set(registered_encoders())
    assert encoder_class("GDyNet") is GDyNet
    with pytest.raises(KeyError, match="no encoder class"):
        encoder_class("Transformer")


def test_registry_refuses_a_non_encoder_and_a_second_class_of_the_same_name() -> None:
    class NotAnEncoder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(TypeError, match="lacks"):
        register_encoder(NotAnEncoder)
    clash = type("GDyNet", (GDyNet,), {})
    with pytest.raises(ValueError, match="another encoder"):
        register_encoder(clash)


def test_gdynet_takes_its_config_or_the_same_names() -> None:
    config = GDyNetConfig(n_states=3, n_conv=2, n_neighbors=8, cutoff=5.0, node_selection="heavy")
    torch.manual_seed(0)
    by_config = GDyNet(config)
    torch.manual_seed(0)
    by_keywords = GDyNet(n_states=3, n_conv=2, n_neighbors=8, cutoff=5.0, node_selection="heavy")
    assert by_config.config == by_keywords.config == config
    for a, b in zip(
        by_config.state_dict().values(), by_keywords.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert GDyNet(**by_config.hyperparameters()).config == config
    with pytest.raises(TypeError, match="not both"):
        GDyNet(config, n_states=2)
    with pytest.raises(TypeError, match="GDyNetConfig"):
        GDyNet(3)  # the old positional n_states
    with pytest.raises(ValueError, match="unknown GDyNet settings"):
        GDyNet(n_state=3)
    with pytest.raises(ValueError, match="at least 2 states"):
        GDyNetConfig(n_states=1)
    with pytest.raises(ValueError, match="node_selection"):
        GDyNetConfig(node_selection="light")
    assert GDyNetConfig(node_selection=np.array([3, 1])).node_selection == [3, 1]


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        ({"lag": 10, "history": {"a": 1}}, (10, None, None, "lag (frames)")),
        ({"lag_ps": 100.0}, (None, None, 100.0, "lag_ps")),
        ({"lag_frames": 4, "time_step_ps": 2.5}, (4, 2.5, 10.0, "lag_frames + time_step_ps")),
        ({}, (None, None, None, "no lag recorded")),
    ],
)
def test_old_extras_migrate_to_one_schema(old: dict, expected: tuple) -> None:
    migrated = migrate_extra(old)
    lag_frames, time_step_ps, lag_ps, form = expected
    assert migrated["lag_frames"] == lag_frames
    assert migrated["time_step_ps"] == time_step_ps
    assert migrated["lag_ps"] == lag_ps
    assert migrated["migrated_from"] == form
    assert "lag" not in migrated
    if "history" in old:
        assert migrated["history"] == old["history"]
    current = checkpoint_extra(4, 2.5, history={"a": 1})
    assert migrate_extra(current) == current  # the current form passes unchanged


@pytest.mark.parametrize(
    ("name", "lag_frames", "lag_ps"),
    [
        ("toy/gdynet.pt", 10, None),
        ("toy/baseline.pt", 10, None),
        ("peo_models/gdynet-seed0.pt", None, 100.0),
    ],
)
def test_shipped_checkpoints_load_through_the_migration(
    name: str, lag_frames: int | None, lag_ps: float | None
) -> None:
    path = data.path(name)
    before = path.read_bytes()
    model, extra = load(path)
    assert isinstance(model, Encoder)
    assert extra["lag_frames"] == lag_frames and extra["lag_ps"] == lag_ps
    assert path.read_bytes() == before  # the shipped file is not rewritten


def test_new_checkpoints_carry_the_schema_and_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = GDyNet(n_states=2, n_conv=1, n_neighbors=4)
    save(model, tmp_path / "m.pt", extra=checkpoint_extra(5, 0.5, history={"best_epoch": 2}))
    loaded, extra = load(tmp_path / "m.pt")
    assert extra == {
        "lag_frames": 5,
        "time_step_ps": 0.5,
        "lag_ps": 2.5,
        "history": {"best_epoch": 2},
    }
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["model_class"] == "GDyNet"
    with pytest.raises(ValueError, match="as arguments"):
        checkpoint_extra(5, 0.5, lag_ps=3.0)


def test_atomic_writers_leave_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".bin"
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]

    class Unpicklable:
        def __reduce__(self) -> None:
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"x": Unpicklable()}, target)
    assert target.read_bytes() == b"old"


def test_atomic_savefig_writes_a_whole_png(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = atomic_savefig(fig, tmp_path / "f.png")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]
