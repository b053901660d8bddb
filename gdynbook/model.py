"""The GDyNet encoder (torch and DGL twins of one layer) and a coordinate baseline.

GDyNet: atom embedding from the atomic number → ``n_conv`` gated graph convolutions on
the periodic neighbour graph → features of the target atoms → small MLP → softmax
over ``n_states``. It sees only distances between atoms, so rotating or translating the
system, relabelling other atoms or moving an atom to a periodic image changes nothing.

The default convolution is the original GDyNets layer (Xie et al. 2019): with
zᵢⱼ = [vᵢ ‖ vⱼ ‖ eᵢⱼ],

    cᵢⱼ = ReLU(BN(W_c zᵢⱼ + b_c)),   aᵢⱼ = softmaxⱼ(w·zᵢⱼ + b),
    sᵢ = BN(meanⱼ aᵢⱼ cᵢⱼ),          vᵢ ← ReLU(vᵢ + sᵢ).

``conv="cgcnn"`` gives CGCNN's layer: σ(filter) ⊙ softplus(core), summed, BN,
softplus(vᵢ + sᵢ).

Batch normalisation statistics are taken over the nodes (and edges) whose values can
reach a target: at layer ℓ of n, the nodes within n − ℓ hops. Atoms farther away, which
the graph builder may or may not include, therefore never change the result.

Both backends share one ``state_dict``: ``backend="torch"`` gathers dense
(nodes, M, F) neighbour blocks and runs anywhere (CPU, CUDA); ``backend="dgl"`` uses
DGL message passing (``dgl==1.1.3``, CPU, Python ≤ 3.11) — a test proves them equal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gdynbook.graph_store import ChunkedGraphs, build_graph_store
from gdynbook.graphs import GaussianDistance
from gdynbook.trajectory import Trajectory


# ---------------------------------------------------------------------- the encoder contract
@runtime_checkable
class Encoder(Protocol):
    """What :func:`gdynbook.train.fit`, ``predict``, ``save`` and ``load`` rely on.

    An encoder is a ``torch.nn.Module`` that maps a batch of frames to state
    probabilities, shape (frames, n_targets, n_states), and knows how to turn
    trajectories into its own inputs:

    * ``prepare(trajectories, progress, workers)`` — per-trajectory input stores
      (graphs, features), computed once before training (``workers`` processes may help;
      a store must pickle cheaply, as data-loader workers receive it);
    * ``collate(stores, items)`` — the batch for ``items``, an (n, 2) array of
      (trajectory index, frame index);
    * ``hyperparameters()`` — keyword arguments that rebuild the same architecture
      (stored in checkpoints);
    * ``forward(batch)`` — the probabilities.

    Register a new encoder class with :func:`register_encoder` so checkpoints of it load.
    """

    def prepare(
        self, trajectories: list[Trajectory], progress: bool = True, workers: int = 0
    ) -> list[Any]: ...

    def collate(self, stores: list[Any], items: np.ndarray) -> Any: ...

    def hyperparameters(self) -> dict[str, Any]: ...

    def __call__(self, batch: Any) -> torch.Tensor: ...


_ENCODERS: dict[str, type[nn.Module]] = {}


def register_encoder(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: make checkpoints of ``cls`` loadable by name.

    Raises
    ------
    TypeError
        If ``cls`` lacks a method of the :class:`Encoder` contract.
    ValueError
        If another class is already registered under the same name.
    """
    missing = [
        name
        for name in ("prepare", "collate", "hyperparameters", "forward")
        if not callable(getattr(cls, name, None))
    ]
    if missing:
        raise TypeError(f"{cls.__name__} is not an encoder: it lacks {missing}.")
    if _ENCODERS.get(cls.__name__, cls) is not cls:
        raise ValueError(f"another encoder class is registered as {cls.__name__!r}.")
    _ENCODERS[cls.__name__] = cls
    return cls


def encoder_class(name: str) -> type[nn.Module]:
    """The registered encoder class called ``name`` (raises ``KeyError`` if none is)."""
    if name not in _ENCODERS:
        raise KeyError(f"no encoder class {name!r}; registered: {sorted(_ENCODERS)}.")
    return _ENCODERS[name]


def registered_encoders() -> list[str]:
    """Names of the registered encoder classes."""
    return sorted(_ENCODERS)


# ---------------------------------------------------------------------- batches of graphs
@dataclass
class GraphBatch:
    """Graphs of several frames joined into one disconnected graph (torch tensors).

    Attributes
    ----------
    atom_types : (n_nodes,) int64
    nbr_index : (n_nodes, M) int64 — global node index of each neighbour
    nbr_distance : (n_nodes, M) float32 — Å
    nbr_mask : (n_nodes, M) bool
    hops : (n_nodes,) int64 — hops from the nearest target
    target_nodes : (n_frames, n_targets) int64 — node index of each target
    """

    atom_types: torch.Tensor
    nbr_index: torch.Tensor
    nbr_distance: torch.Tensor
    nbr_mask: torch.Tensor
    hops: torch.Tensor
    target_nodes: torch.Tensor

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(**{k: v.to(device) for k, v in self.__dict__.items()})

    @property
    def n_frames(self) -> int:
        return int(self.target_nodes.shape[0])


def collate_graphs(stores: list[Any], items: np.ndarray) -> GraphBatch:
    """Join the graphs of (trajectory, frame) ``items`` (shape (B, 2)) into one batch.

    ``stores`` hold each trajectory's graphs: :class:`~gdynbook.graphs.FrameGraphs` in
    memory or :class:`~gdynbook.graph_store.ChunkedGraphs` on disk (anything with
    ``gather``, ``atom_types`` and ``n_targets``).
    """
    items = np.asarray(items, dtype=np.int64).reshape(-1, 2)
    atom_types, nbr_index, nbr_distance, nbr_mask, hops, starts = [], [], [], [], [], []
    offset = 0
    for store_index in np.unique(items[:, 0]):
        store = stores[store_index]
        positions = np.flatnonzero(items[:, 0] == store_index)
        counts, rows = store.gather(items[positions, 1])
        new_begin = offset + np.concatenate([[0], np.cumsum(counts)[:-1]])
        shift = np.repeat(new_begin, counts)
        atom_types.append(store.atom_types[rows["node_atom"]])
        nbr_index.append(rows["nbr_index"].astype(np.int64) + shift[:, None])
        nbr_distance.append(rows["nbr_distance"])
        nbr_mask.append(rows["nbr_mask"])
        hops.append(rows["hops"])
        starts.append((positions, new_begin))
        offset += int(counts.sum())
    n_targets = stores[int(items[0, 0])].n_targets
    target_nodes = np.zeros((items.shape[0], n_targets), dtype=np.int64)
    for positions, new_begin in starts:
        target_nodes[positions] = new_begin[:, None] + np.arange(n_targets)
    return GraphBatch(
        atom_types=torch.from_numpy(np.concatenate(atom_types)),
        nbr_index=torch.from_numpy(np.concatenate(nbr_index)),
        nbr_distance=torch.from_numpy(np.concatenate(nbr_distance).astype(np.float32)),
        nbr_mask=torch.from_numpy(np.concatenate(nbr_mask)),
        hops=torch.from_numpy(np.concatenate(hops).astype(np.int64)),
        target_nodes=torch.from_numpy(target_nodes),
    )


def masked_batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Batch-normalise the rows of ``x`` (…, C) selected by ``mask`` (…); others become 0.

    Statistics (and running averages in training) come from the selected rows only —
    of every process inside :func:`gdynbook.distributed.data_parallel`.
    """
    from gdynbook import distributed

    selected = x[mask]
    if distributed.active() and bn.training:
        # statistics of every process's rows (the union batch); an empty shard still
        # takes part in the all-reduce
        out = torch.zeros_like(x)
        out[mask] = distributed.batch_norm(bn, selected)
        return out
    if selected.shape[0] == 0:
        return torch.zeros_like(x)
    normalised = F.batch_norm(
        selected,
        bn.running_mean,
        bn.running_var,
        bn.weight,
        bn.bias,
        training=bn.training,
        momentum=bn.momentum if bn.momentum is not None else 0.1,
        eps=bn.eps,
    )
    out = torch.zeros_like(x)
    out[mask] = normalised
    return out


def _linear_on_pairs(
    weight: torch.Tensor,
    bias: torch.Tensor,
    v: torch.Tensor,
    rows: torch.Tensor,
    nbr_index: torch.Tensor,
    edge_fea: torch.Tensor,
) -> torch.Tensor:
    """``[vᵢ ‖ vⱼ ‖ eᵢⱼ] @ weightᵀ + bias`` for i in ``rows`` and all their j.

    The weight (out, 2F + E) splits into blocks for vᵢ, vⱼ and eᵢⱼ; the node blocks are
    applied once per node and gathered, which is the same sum without building the
    (R, M, 2F + E) concatenation.
    v (N, F); rows (R,); nbr_index (R, M); edge_fea (R, M, E) → (R, M, out).
    """
    n_fea = v.shape[1]
    w_self, w_nbr, w_edge = weight.split([n_fea, n_fea, edge_fea.shape[-1]], dim=1)
    own = v[rows] @ w_self.T  # (R, out)
    other = v @ w_nbr.T  # (N, out)
    return own[:, None, :] + other[nbr_index] + edge_fea @ w_edge.T + bias


# ---------------------------------------------------------------------- the layer
class ConvLayer(nn.Module):
    """One gated graph convolution with a torch and a DGL implementation."""

    def __init__(
        self, atom_fea_len: int, nbr_fea_len: int, kind: Literal["gdynet", "cgcnn"] = "gdynet"
    ) -> None:
        super().__init__()
        self.kind = kind
        width = 2 * atom_fea_len + nbr_fea_len
        if kind == "gdynet":
            self.fc_core = nn.Linear(width, atom_fea_len)
            self.fc_gate = nn.Linear(width, 1)
            self.bn_edge = nn.BatchNorm1d(atom_fea_len)
        elif kind == "cgcnn":
            self.fc_full = nn.Linear(width, 2 * atom_fea_len)
            self.bn_edge = nn.BatchNorm1d(2 * atom_fea_len)
        else:
            raise ValueError(f"conv must be 'gdynet' or 'cgcnn', got {kind!r}.")
        self.bn_node = nn.BatchNorm1d(atom_fea_len)

    def forward(
        self,
        v: torch.Tensor,
        rows: torch.Tensor,
        edge_fea: torch.Tensor,
        nbr_index: torch.Tensor,
        nbr_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Dense torch path, evaluated only on the nodes whose output matters.

        v (N, F) features of all nodes; rows (R,) the nodes to update; edge_fea (R, M, E),
        nbr_index (R, M) global indices and nbr_mask (R, M) are those rows' neighbours.
        Returns the new features of the rows, (R, F).
        """
        own = v[rows]  # (R, F)
        weight = nbr_mask[..., None].to(v.dtype)
        every_row = torch.ones(own.shape[0], dtype=torch.bool, device=v.device)
        if self.kind == "gdynet":
            # fc_core and fc_gate in one pass over the edges: (R, M, F + 1)
            both = _linear_on_pairs(
                torch.cat([self.fc_core.weight, self.fc_gate.weight]),
                torch.cat([self.fc_core.bias, self.fc_gate.bias]),
                v,
                rows,
                nbr_index,
                edge_fea,
            )
            core_in, logits = both[..., :-1], both[..., -1]  # (R, M, F), (R, M)
            core = F.relu(masked_batch_norm(self.bn_edge, core_in, nbr_mask))
            logits = logits.masked_fill(~nbr_mask, float("-inf"))  # (R, M)
            gate = torch.softmax(logits, dim=1).nan_to_num(0.0)  # rows without neighbours: 0
            count = nbr_mask.sum(dim=1, keepdim=True).clamp(min=1).to(v.dtype)  # (R, 1)
            summed = (gate[..., None] * core * weight).sum(dim=1) / count  # (R, F): mean_j a c
            return F.relu(own + masked_batch_norm(self.bn_node, summed, every_row))
        full = _linear_on_pairs(
            self.fc_full.weight, self.fc_full.bias, v, rows, nbr_index, edge_fea
        )  # (R, M, 2F)
        gated = masked_batch_norm(self.bn_edge, full, nbr_mask)
        filter_part, core_part = gated.chunk(2, dim=-1)
        summed = (torch.sigmoid(filter_part) * F.softplus(core_part) * weight).sum(dim=1)
        return F.softplus(own + masked_batch_norm(self.bn_node, summed, every_row))

    def forward_dgl(
        self,
        graph: Any,
        v: torch.Tensor,
        edge_fea: torch.Tensor,
        edge_valid: torch.Tensor,
        node_valid: torch.Tensor,
    ) -> torch.Tensor:
        """DGL path: ``graph`` has an edge j → i for every real neighbour j of i.

        edge_fea (E, nbr_fea_len); edge_valid (E,) — edges into nodes that matter.
        """
        import dgl.function as fn
        from dgl.nn.functional import edge_softmax

        src, dst = graph.edges()
        z = torch.cat([v[dst], v[src], edge_fea], dim=-1)  # (E, 2F + E_fea)
        with graph.local_scope():
            if self.kind == "gdynet":
                core = F.relu(masked_batch_norm(self.bn_edge, self.fc_core(z), edge_valid))
                gate = edge_softmax(graph, self.fc_gate(z))  # (E, 1), softmax over in-edges
                graph.edata["message"] = gate * core
                graph.update_all(fn.copy_e("message", "message"), fn.mean("message", "s"))
                summed = graph.ndata["s"]
                return F.relu(v + masked_batch_norm(self.bn_node, summed, node_valid))
            gated = masked_batch_norm(self.bn_edge, self.fc_full(z), edge_valid)
            filter_part, core_part = gated.chunk(2, dim=-1)
            graph.edata["message"] = torch.sigmoid(filter_part) * F.softplus(core_part)
            graph.update_all(fn.copy_e("message", "message"), fn.sum("message", "s"))
            summed = graph.ndata["s"]
            return F.softplus(v + masked_batch_norm(self.bn_node, summed, node_valid))


def dgl_available() -> bool:
    """Whether DGL imports (it needs Python ≤ 3.11 and a compatible torch)."""
    import os

    os.environ.setdefault("DGLBACKEND", "pytorch")
    try:
        import dgl  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return False
    return True


# ---------------------------------------------------------------------- GDyNet
@dataclass
class GDyNetConfig:
    """Hyper-parameters of :class:`GDyNet` (stored in checkpoints).

    The one set of names for the encoder's settings: :class:`GDyNet` takes this object
    (or the same names as keywords), the jobs and the command line use them too
    (``--n-conv``, ``--n-neighbors``, ``--cutoff``, ``--node-selection`` …). Units: Å.
    """

    n_states: int = 2
    atom_fea_len: int = 16
    h_fea_len: int = 16
    n_conv: int = 3
    n_neighbors: int = 20
    cutoff: float = 7.0
    gaussian_step: float = 0.2
    conv: str = "gdynet"
    node_selection: str | list[int] | None = None  # "heavy": no H; or atom indices

    def __post_init__(self) -> None:
        if self.n_states < 2:
            raise ValueError("a GDyNet needs at least 2 states.")
        selection = self.node_selection
        if isinstance(selection, str) and selection != "heavy":
            raise ValueError("node_selection must be None, 'heavy' or a list of atom indices.")
        if selection is not None and not isinstance(selection, str):
            selection = [int(i) for i in np.asarray(selection).reshape(-1)]
            if not selection or min(selection) < 0:
                raise ValueError("node_selection must list non-negative atom indices.")
            self.node_selection = selection

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GDyNetConfig:
        """Build from a mapping, refusing names that are not fields (typos)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown GDyNet settings {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**values)


@register_encoder
class GDyNet(nn.Module):
    """Graph dynamical network: periodic neighbour graph → soft states of target atoms.

    Parameters
    ----------
    config : GDyNetConfig, optional
        All hyper-parameters at once; or give them as keywords (not both).
    n_states : int
        Number of output states (softmax).
    atom_fea_len : int
        Width F of node features.
    h_fea_len : int
        Width of the hidden layer of the readout MLP.
    n_conv : int
        Number of graph convolutions.
    n_neighbors, cutoff : int, float
        Neighbours per atom and cutoff (Å) of the graphs.
    gaussian_step : float
        Spacing and width (Å) of the Gaussian distance expansion.
    conv : {"gdynet", "cgcnn"}
        Convolution type.
    node_selection : None, "heavy" or list of int
        Atoms allowed as graph nodes besides the targets: all (None), non-hydrogen
        atoms (``"heavy"``), or these 0-based atom indices.
    backend : {"torch", "dgl"}
        Implementation of the convolutions; the parameters are the same.
    """

    def __init__(
        self, config: GDyNetConfig | None = None, *, backend: str = "torch", **settings: Any
    ) -> None:
        super().__init__()
        if config is not None and settings:
            raise TypeError("give GDyNet a GDyNetConfig or keyword settings, not both.")
        if config is not None and not isinstance(config, GDyNetConfig):
            raise TypeError(
                f"GDyNet's first argument is a GDyNetConfig, got {type(config).__name__}: "
                "pass settings by name (GDyNet(n_states=3, ...))."
            )
        self.config = config if config is not None else GDyNetConfig.from_dict(settings)
        c = self.config
        self.backend = backend
        self.embedding = nn.Embedding(119, c.atom_fea_len)  # by atomic number
        self.distance_expansion = GaussianDistance(c.cutoff, c.gaussian_step)
        nbr_fea_len = self.distance_expansion.n_features
        self.convs = nn.ModuleList(
            [ConvLayer(c.atom_fea_len, nbr_fea_len, c.conv) for _ in range(c.n_conv)]
        )
        self.fc_hidden = nn.Linear(c.atom_fea_len, c.h_fea_len)
        self.fc_out = nn.Linear(c.h_fea_len, c.n_states)

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in ("torch", "dgl"):
            raise ValueError("backend must be 'torch' or 'dgl'.")
        if value == "dgl" and not dgl_available():
            raise ImportError(
                "backend='dgl' needs DGL (pip install 'gdynbook[dgl]'; only dgl==1.1.3 on "
                "Python ≤ 3.11, CPU). The default backend='torch' computes the same thing."
            )
        self._backend = value

    # -- data ---------------------------------------------------------------------------
    def prepare(
        self, trajectories: list[Trajectory], progress: bool = True, workers: int = 0
    ) -> list[ChunkedGraphs]:
        """Neighbour graphs of every frame of every trajectory, on disk in the cache.

        Built once per chunk of frames (by ``workers`` processes when > 1) and read
        lazily: memory does not grow with the number of frames
        (:mod:`gdynbook.graph_store`).
        """
        stores = []
        for traj in trajectories:
            selection = None
            if self.config.node_selection == "heavy":
                selection = np.flatnonzero(traj.atom_types > 1)
            elif self.config.node_selection is not None:
                selection = np.asarray(self.config.node_selection, dtype=np.int64)
                if selection.max() >= traj.n_atoms:
                    raise ValueError(
                        f"node_selection names atom {selection.max()}, but the trajectory "
                        f"has {traj.n_atoms} atoms."
                    )
            stores.append(
                build_graph_store(
                    traj,
                    self.config.n_neighbors,
                    self.config.cutoff,
                    self.config.n_conv,
                    node_selection=selection,
                    progress=progress,
                    workers=workers,
                )
            )
        return stores

    @staticmethod
    def collate(stores: list[ChunkedGraphs], items: np.ndarray) -> GraphBatch:
        return collate_graphs(stores, items)

    # -- forward ------------------------------------------------------------------------
    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """State probabilities of the targets, (n_frames, n_targets, n_states)."""
        v = self.embedding(batch.atom_types)  # (N, F)
        n_conv = len(self.convs)
        if self.backend == "torch":
            # Layer l only needs the nodes within n_conv − l hops of a target: the last
            # layer updates the targets alone. Edge features are expanded once, for the
            # rows of the first layer, which contain the rows of every later one.
            first_rows = torch.nonzero(batch.hops <= n_conv - 1).squeeze(1)  # (R₁,)
            edge_fea = self.distance_expansion(batch.nbr_distance[first_rows])  # (R₁, M, E)
            position = torch.full_like(batch.hops, -1)
            position[first_rows] = torch.arange(first_rows.numel(), device=v.device)
            for layer, conv in enumerate(self.convs, start=1):
                rows = torch.nonzero(batch.hops <= n_conv - layer).squeeze(1)  # (R,)
                at = position[rows]
                updated = conv(v, rows, edge_fea[at], batch.nbr_index[rows], batch.nbr_mask[rows])
                v = v.index_copy(0, rows, updated)  # other nodes are not read again
        else:
            import dgl

            dst, slot = torch.nonzero(batch.nbr_mask, as_tuple=True)
            src = batch.nbr_index[dst, slot]
            graph = dgl.graph((src, dst), num_nodes=v.shape[0])
            edge_fea = self.distance_expansion(batch.nbr_distance[dst, slot])  # (E, E_fea)
            for layer, conv in enumerate(self.convs, start=1):
                node_valid = batch.hops <= n_conv - layer
                v = conv.forward_dgl(graph, v, edge_fea, node_valid[dst], node_valid)
        targets = v[batch.target_nodes]  # (B, n_targets, F)
        hidden = F.relu(self.fc_hidden(F.relu(targets)))  # (B, n_targets, h)
        return torch.softmax(self.fc_out(hidden), dim=-1)  # (B, n_targets, n_states)

    def hyperparameters(self) -> dict[str, Any]:
        return asdict(self.config)


# ---------------------------------------------------------------------- the baseline
@dataclass
class CoordinateVAMPNetConfig:
    n_states: int = 2
    hidden: int = 32
    n_hidden_layers: int = 2
    encoding: str = "periodic"  # or "cartesian"


@register_encoder
class CoordinateVAMPNet(nn.Module):
    """The non-symmetric baseline: an MLP on the target atom's position → softmax.

    ``encoding="periodic"`` feeds sin(2πf) and cos(2πf) of the fractional coordinates f:
    the network knows the cell is periodic but not that equivalent sites are
    equivalent. ``encoding="cartesian"`` feeds the raw wrapped Cartesian coordinates, as
    the original's "vanilla" mode did; it mostly learns the jumps where the atom is
    re-wrapped across the cell boundary.
    """

    def __init__(
        self,
        n_states: int = 2,
        hidden: int = 32,
        n_hidden_layers: int = 2,
        encoding: str = "periodic",
    ) -> None:
        super().__init__()
        if encoding not in ("periodic", "cartesian"):
            raise ValueError("encoding must be 'periodic' or 'cartesian'.")
        self.config = CoordinateVAMPNetConfig(n_states, hidden, n_hidden_layers, encoding)
        width = 6 if encoding == "periodic" else 3
        layers: list[nn.Module] = [nn.BatchNorm1d(width)]
        for _ in range(n_hidden_layers):
            layers += [nn.Linear(width, hidden), nn.ELU()]
            width = hidden
        layers.append(nn.Linear(width, n_states))
        self.net = nn.Sequential(*layers)

    def prepare(
        self, trajectories: list[Trajectory], progress: bool = True, workers: int = 0
    ) -> list[np.ndarray]:
        """Per-frame input features of the targets, (frames, n_targets, 6 or 3), in memory
        (``workers`` is accepted for the contract and unused)."""
        out = []
        for traj in trajectories:
            frac = traj.fractional_coords()[:, traj.target_index]
            frac = frac - np.floor(frac)
            if self.config.encoding == "periodic":
                angle = 2 * np.pi * frac
                features = np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)
            else:
                features = np.einsum("fnj,fjk->fnk", frac, traj.lattices)
            out.append(features.astype(np.float32))
        return out

    @staticmethod
    def collate(stores: list[np.ndarray], items: np.ndarray) -> torch.Tensor:
        items = np.asarray(items, dtype=np.int64).reshape(-1, 2)
        return torch.from_numpy(np.stack([stores[t][f] for t, f in items]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, n_targets, d) → (B, n_targets, n_states) probabilities.

        The input batch norm (``net[0]``) takes its statistics from every process's rows
        inside :func:`gdynbook.distributed.data_parallel`, so N processes train as one.
        """
        b, n, d = features.shape
        rows = features.reshape(b * n, d)
        every_row = torch.ones(rows.shape[0], dtype=torch.bool, device=rows.device)
        normalised = masked_batch_norm(self.net[0], rows, every_row)
        return torch.softmax(self.net[1:](normalised), dim=-1).reshape(b, n, -1)

    def hyperparameters(self) -> dict[str, Any]:
        return asdict(self.config)
