"""Joining a Ray cluster, and the actor pool that fits it.

An address is checked with a plain TCP connection (3 s) before ``ray.init``: Ray itself waits
about 40 s on an address where nothing listens before it gives up, with a screen of retries.
"""
from __future__ import annotations

import inspect
import logging
import math
import os
import socket
import warnings
from dataclasses import dataclass

CONNECT_TIMEOUT_S = 3.0
CPU_BATCH, GPU_BATCH = 16, 64


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """ValueError naming ``address`` unless something accepts a TCP connection there."""
    target = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--address {address}: expected host:port (the head node's GCS port, 6379 unless "
                         "changed), ray://host:port or 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one with "
                         "`ray start --head` or fix --address / RAY_ADDRESS") from None


@dataclass
class Connection:
    """``owned``: this run called ``ray.init`` (and must call ``ray.shutdown``); ``local``: the
    cluster is one this run started on this machine, whose actors read the driver's files."""

    owned: bool
    local: bool


def connect(address: str | None = None) -> Connection:
    """Join the cluster at ``address`` (else ``$RAY_ADDRESS``; 'auto': the one ``ray start`` runs
    on this machine), else start a local one on this machine's cores; a Ray already initialised
    in this process is used as it is."""
    import ray

    if ray.is_initialized():
        return Connection(owned=False, local=False)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address not in (None, "auto", "local"):
        check_reachable(address)
    # Ray's INFO lines (start-up, each dataset's plan) would bury the progress bar and summary
    kwargs = dict(logging_level=logging.WARNING, log_to_driver=True)
    if address is None:
        kwargs["include_dashboard"] = False  # a throwaway local cluster: no dashboard process to feed
        # Ray starts workers at niceness 15; on this machine the actors are the run, and at 15 any
        # other program would take their cores (and they would fall behind `cspdet detect`)
        os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise ValueError(f"--address {address}: {' '.join(str(e).split())}") from None
    return Connection(owned=True, local=address is None)


def quiet_ray_data() -> None:
    """Leave the terminal to cspdet's own progress bar and summary: Ray Data's progress bars
    (logged every 10 s when stdout is not a terminal) and INFO lines off, its warnings kept."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"


@dataclass
class Pool:
    """The actor pool of one ``map_batches``: ``actors`` x ``threads`` CPUs (and ``gpus`` each),
    ``batch_size`` rows a call, ``retries`` restarts of a dead actor and retries of its tasks."""

    actors: int
    threads: int
    batch_size: int
    gpus: float = 0.0
    retries: int = 3

    def map_batches(self, ds, fn, constructor_kwargs: dict):
        """``ds.map_batches(fn)`` on this pool: one ``fn(**constructor_kwargs)`` per actor."""
        import ray.data

        kwargs = dict(compute=ray.data.ActorPoolStrategy(size=self.actors), num_cpus=self.threads,
                      batch_size=self.batch_size, fn_constructor_kwargs=constructor_kwargs)
        if self.gpus:
            kwargs["num_gpus"] = self.gpus
        # Actor restarts and task retries go through map_batches' ray_remote_args, which Ray 2.60
        # deprecates without a named replacement; Ray Data's own default is no limit, which would
        # retry forever a batch that crashes its actor every time. Where a later Ray has dropped
        # them, its own policy applies.
        params = inspect.signature(ds.map_batches).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            kwargs.update(max_restarts=self.retries, max_task_retries=self.retries)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            return ds.map_batches(fn, **kwargs)

    def describe(self) -> str:
        gpus = f", {self.gpus:g} GPU" if self.gpus else ""
        return (f"{self.actors} actor{'s' if self.actors != 1 else ''} x {self.threads} "
                f"thread{'s' if self.threads != 1 else ''}{gpus}, batch {self.batch_size}")


def fit_pool(resources: dict, *, actors: int | None = None, threads: int | None = None,
             batch_size: int | None = None, gpus: float = 0.0, retries: int = 3) -> Pool:
    """The pool for a cluster with ``resources`` (``ray.cluster_resources()``), each unset option
    chosen to fit it: one thread per actor (on CPUs, several single-thread models outrun one
    model on several threads: see docs/ray.md); as many actors as the cluster's CPUs hold (its
    GPUs with ``gpus`` per actor); batches of 16 images on CPU, 64 on GPU."""
    threads = threads or 1
    cpus, gpu_total = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if gpus and gpu_total < gpus:
        raise ValueError(f"--gpus-per-actor {gpus:g}: the cluster has {gpu_total:g} GPUs")
    if cpus < threads:
        raise ValueError(f"--threads {threads}: the cluster has {cpus:g} CPUs, an actor needs {threads}")
    if actors is None:
        actors = max(1, int(cpus // threads))
        if gpus:
            actors = max(1, min(actors, math.floor(gpu_total / gpus)))
    return Pool(actors, threads, batch_size or (GPU_BATCH if gpus else CPU_BATCH), gpus, retries)
