"""Conventions shared by every later module: fast switch, data resolver, cache, packaging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import gdynbook
from gdynbook import cache, config, data

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("value", "fast"), [("1", True), ("0", False), (" 1 ", True)])
def test_fast_switch(monkeypatch: pytest.MonkeyPatch, value: str, fast: bool) -> None:
    monkeypatch.setenv("GDYNBOOK_FAST", value)
    assert config.fast_mode() is fast
    assert config.pick("small", "large") == ("small" if fast else "large")


@pytest.mark.parametrize("cuda", [True, False])
def test_fast_switch_unset_follows_cuda(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    monkeypatch.delenv("GDYNBOOK_FAST", raising=False)
    monkeypatch.setattr(config, "_cuda_available", lambda: cuda)
    assert config.fast_mode() is (not cuda)


@pytest.mark.parametrize("cuda", [True, False])
def test_device_and_run_description_follow_cuda(
    monkeypatch: pytest.MonkeyPatch, cuda: bool
) -> None:
    from gdynbook.train import resolve_device

    monkeypatch.setattr(config, "_cuda_available", lambda: cuda)
    expected = "cuda" if cuda else "cpu"
    assert config.device() == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    monkeypatch.delenv("GDYNBOOK_FAST", raising=False)
    line = config.describe_run()
    assert line.splitlines()[0].endswith(f"device {expected}")
    assert ("full mode" if cuda else "fast mode") in line
    assert "chosen by the device" in line
    monkeypatch.setenv("GDYNBOOK_FAST", "1")
    assert "fast mode (GDYNBOOK_FAST=1)" in config.describe_run()
    assert gdynbook.__version__ in config.describe_run()


def test_fast_switch_rejects_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDYNBOOK_FAST", "yes")
    with pytest.raises(ValueError, match="set it to 1 .* or 0"):
        config.fast_mode()


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GDYNBOOK_CACHE_DIR", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()
    monkeypatch.delenv("GDYNBOOK_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.cache_dir() == tmp_path / "home" / ".cache" / "gdynbook"


def test_cache_key_depends_on_inputs_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    a = np.arange(6.0)
    key = cache.cache_key(a, {"cutoff": 7.0, "n": 20})
    assert key == cache.cache_key(a.copy(), {"n": 20, "cutoff": 7.0})
    assert key != cache.cache_key(a.astype(np.float32), {"cutoff": 7.0, "n": 20})
    assert key != cache.cache_key(a.reshape(2, 3), {"cutoff": 7.0, "n": 20})
    assert key != cache.cache_key(a, {"cutoff": 6.0, "n": 20})
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert key != cache.cache_key(a, {"cutoff": 7.0, "n": 20})


def test_cache_path_is_outside_the_repository() -> None:
    path = cache.cache_path("graphs", np.zeros(3))
    assert path.parent.is_dir()
    assert ROOT not in path.parents


def test_data_path_in_checkout() -> None:
    readme = data.path("README.md")
    assert readme == ROOT / "data" / "README.md"
    assert "README.md" in data.available()


def test_data_path_unknown_name_lists_files() -> None:
    with pytest.raises(FileNotFoundError, match="Available: .*README.md"):
        data.path("no-such-file.npz")
    with pytest.raises(FileNotFoundError, match="outside"):
        data.path("../pyproject.toml")


def test_data_path_prefers_wheel_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "gdynbook"
    (package / "_data" / "toy").mkdir(parents=True)
    (package / "_data" / "toy" / "traj.npz").write_bytes(b"x")
    monkeypatch.setattr(data, "_PACKAGE_DIR", package)
    assert data.path("toy/traj.npz") == package / "_data" / "toy" / "traj.npz"
    monkeypatch.setattr(data, "_PACKAGE_DIR", tmp_path / "nowhere" / "gdynbook")
    with pytest.raises(FileNotFoundError, match="data directory was not found"):
        data.path("toy/traj.npz")


def test_pyproject_ships_data_in_wheel() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["gdynbook"]
    assert wheel["force-include"]["data"] == "gdynbook/_data"
    assert project["project"]["version"] == gdynbook.__version__
    extras = project["project"]["optional-dependencies"]
    assert {"dev", "notebooks", "md", "dgl"} <= set(extras)
    assert any(req.startswith("torch>=2.3") for req in project["project"]["dependencies"])


def test_environment_yml() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    assert "pip" in deps
    pip_section = next(d for d in deps if isinstance(d, dict))
    assert pip_section["pip"] == ["-e .[dev]"]


def test_constraints_pin_cpu_torch() -> None:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in [line.strip() for line in lines]
    assert "PIP_CONSTRAINT" in (ROOT / "Makefile").read_text()


def test_lazy_top_level_names() -> None:
    for name in gdynbook.__all__:
        assert getattr(gdynbook, name) is not None
    with pytest.raises(AttributeError):
        gdynbook.no_such_thing  # noqa: B018


def test_chapter_time_budget_names_slow_chapters() -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    assert root.over_budget({"book/a.ipynb": 30.0, "book/b.ipynb": 60.0}) == []
    slow = root.over_budget({"book/a.ipynb": 95.0})
    assert len(slow) == 1 and "book/a.ipynb" in slow[0]
    many = root.over_budget({f"book/{k}.ipynb": 80.0 for k in range(12)})
    assert len(many) == 1 and "all chapters" in many[0]


def test_shipped_manifest_lists_every_file_with_its_sha256() -> None:
    import hashlib

    root = ROOT / "data"
    listed = dict(
        reversed(line.split("  ", 1)) for line in (root / "SHA256SUMS").read_text().splitlines()
    )
    files = {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in ("SHA256SUMS", "README.md")
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    assert data.verify_manifest(root) == []


def test_manifest_check_names_changed_missing_and_unlisted_files(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.pt").write_bytes(b"weights")
    (tmp_path / "b.csv").write_text("1,2\n")
    data.write_manifest(tmp_path)
    assert data.verify_manifest(tmp_path) == []
    (tmp_path / "models" / "a.pt").write_bytes(b"other weights")
    (tmp_path / "b.csv").unlink()
    (tmp_path / "c.json").write_text("{}")
    problems = data.verify_manifest(tmp_path)
    assert problems == [
        "b.csv: listed in SHA256SUMS but missing",
        "c.json: not listed in SHA256SUMS",
        "models/a.pt: sha256 differs from SHA256SUMS",
    ]
    (tmp_path / "SHA256SUMS").unlink()
    assert "write_manifest" in data.verify_manifest(tmp_path)[0]


def test_atomic_writers_replace_in_one_step_and_keep_the_usual_mode(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")  # the mode an ordinary open() gives under this umask
    target = tmp_path / "sub" / "summary.json"
    cache.atomic_write_bytes(target, b'{"a": 1}\n')
    assert target.read_bytes() == b'{"a": 1}\n'
    assert target.stat().st_mode == plain.stat().st_mode
    arrays = tmp_path / "arrays.npz"
    cache.atomic_savez(arrays, compress=True, x=np.arange(3))
    with np.load(arrays) as loaded:
        np.testing.assert_array_equal(loaded["x"], np.arange(3))
    assert arrays.stat().st_mode == plain.stat().st_mode

    class Unwritable:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        cache.atomic_savez(arrays, x=Unwritable())
    with np.load(arrays) as loaded:  # the old file is untouched, no temporary is left
        np.testing.assert_array_equal(loaded["x"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "plain.txt", "sub"]


def test_staged_manifest_follows_the_index_not_the_working_tree(tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "data" / "run").mkdir(parents=True)
    (tmp_path / "data" / "run" / "chunk-0000.xtc").write_bytes(b"first")
    (tmp_path / "data" / "README.md").write_text("not listed")
    git("add", "data")
    (tmp_path / "data" / "run" / "chunk-0000.xtc").write_bytes(b"changed after staging")
    (tmp_path / "data" / "run" / "chunk-0001.xtc").write_bytes(b"not staged")
    text = data.staged_manifest_text(tmp_path)
    import hashlib

    assert text == f"{hashlib.sha256(b'first').hexdigest()}  run/chunk-0000.xtc\n"


def test_cache_key_hashes_large_arrays_in_blocks_to_the_same_digest(tmp_path) -> None:
    """Block-wise hashing gives exactly the digest of hashing the whole array's bytes, for
    arrays, non-contiguous views and memory maps alike."""
    import hashlib

    from gdynbook import __version__
    from gdynbook.cache import cache_key

    rng = np.random.default_rng(0)
    big = rng.normal(size=(3000, 900, 3))  # > 16 MiB: several blocks
    view = big[::2, ::3]
    path = tmp_path / "a.npy"
    np.save(path, big)
    mapped = np.load(path, mmap_mode="r")
    for array in (big, view, mapped, big[:0], np.full((), 3.0)):
        contiguous = np.ascontiguousarray(array)
        digest = hashlib.sha256()
        digest.update(f"gdynbook-{__version__}".encode())
        digest.update(f"ndarray:{contiguous.dtype.str}:{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
        assert cache_key(array) == digest.hexdigest()[:32]


HOLD_LOCK = """
import sys, time
from gdynbook import cache
with cache.exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_exclusive_lock_refuses_while_another_process_holds_it(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    lock = tmp_path / "build" / "lock"
    with cache.exclusive_lock(lock):
        assert lock.read_text().split() == [socket.gethostname(), str(os.getpid())]
        with pytest.raises(cache.LockHeld, match=f"process {os.getpid()} on"):
            with cache.exclusive_lock(lock):
                pass
    with pytest.raises(KeyError), cache.exclusive_lock(lock):
        raise KeyError("released on an error too")
    with cache.exclusive_lock(lock):  # released: it can be taken again
        pass
    # another process holds it: refused, and the file keeps naming that process
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(cache.LockHeld, match=f"process {other.pid} on"):
            with cache.exclusive_lock(lock):
                pass
    finally:
        other.kill()
        other.wait()
    # the process died without cleaning up: the lock died with it
    with cache.exclusive_lock(lock):
        assert lock.read_text().split()[1] == str(os.getpid())
    assert [p.name for p in lock.parent.iterdir()] == ["lock"]


HOLD_LOCK_BRIEFLY = """
import sys, time
from gdynbook import cache
with cache.exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.0)
    print("done", flush=True)
"""


def test_a_waiting_lock_blocks_until_the_holder_lets_go(tmp_path: Path) -> None:
    import subprocess
    import sys

    lock = tmp_path / "fit.lock"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_BRIEFLY, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "held"
        with cache.exclusive_lock(lock, wait=True):
            # the holder printed "done" before letting go; we only got here after that
            assert other.stdout.readline().strip() == "done"
    finally:
        other.kill()
        other.wait()
