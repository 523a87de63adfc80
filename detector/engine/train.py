"""Training: one loop for CPU, one GPU and ``torchrun`` DDP, resumable bit for bit on CPU."""
from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from ..data import AugmentConfig, build_dataset, create_dataloader, load_data_config
from ..devices import select_device
from ..models.checkpoint import atomic_save, checkpoint_dict, load_checkpoint
from ..models.loading import model_from_arch
from .finetune import DEFAULT_ARCH, WEIGHT_SUFFIXES, freeze, frozen_eval, initial_model
from .hyp import augment_config, hyp_dict
from .loss import YOLOLoss
from .optim import ModelEMA, build_optimizer, set_lr, unwrap
from .train_plots import plot_batch, plot_labels
from .results_log import ResultsLog
from .validate import evaluate_model


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint so ``--resume`` needs nothing else."""

    weights: str = ""             # start from: a .pt, a Darknet .weights (with cfg) or a name; "" = scratch
    cfg: str = ""                 # architecture: model YAML/name or Darknet .cfg; "" = the weights' own
    model: str = ""               # the old --model: a .pt/.weights goes to weights, anything else to cfg
    freeze: str = ""              # N (first N Darknet layers / backbone stages) or "backbone"
    data: str = ""
    epochs: int = 100
    batch_size: int = 16
    img_size: int = 416
    nbs: int = 64                 # nominal batch: gradients accumulate up to it
    optimizer: str = "sgd"
    lr0: float = 0.01
    lrf: float = 0.01
    schedule: str = "cosine"
    momentum: float = 0.937
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    box: str = "ciou"
    box_gain: float = 0.05        # loss gains before yolov5's scaling by levels, size and classes
    obj_gain: float = 1.0
    cls_gain: float = 0.5
    iou_thresh: float = 0.213
    label_smoothing: float = 0.0
    ema: bool = True
    amp: bool = True              # on CUDA only
    sync_bn: bool = False
    multi_scale: bool = False
    mosaic: float = 1.0
    augment: dict = field(default_factory=dict)  # AugmentConfig overrides (``--hyp``), mosaic aside
    workers: int = 2
    seed: int = 0
    device: str = ""              # yolov5's --device: '' is CUDA when present, else the CPU
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False        # reuse project/name instead of making name2, name3...
    val_interval: int = 1
    val_batch_size: int = 0       # 0: same as batch_size
    plots: bool = True            # labels.jpg, train_batch*.jpg, results.png, PR_curve.png (yolov5's --noplots)

    def __post_init__(self):
        if self.model:  # --model stays an alias: a .pt/.weights is --weights, a YAML/name/.cfg is --cfg
            slot = "weights" if Path(self.model).suffix.lower() in WEIGHT_SUFFIXES else "cfg"
            if getattr(self, slot):
                raise ValueError(f"--model {self.model}: an alias of --{slot}, which is given too; give one")
            setattr(self, slot, self.model)
            self.model = ""
        if not self.weights and not self.cfg:
            self.cfg = DEFAULT_ARCH

    @property
    def label(self) -> str:
        """The model's name in messages: the weights' file stem, else the architecture's."""
        return Path(self.weights or self.cfg).stem


def ddp_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (0, 0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def rng_state() -> dict:
    """Global RNG states as plain data/tensors (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """``Trainer(cfg).fit()``; or ``Trainer.resume(path).fit()`` to continue from a checkpoint.

    ``callbacks`` maps event names ("epoch_end") to functions called with the trainer.
    """

    def __init__(self, cfg: TrainConfig, *, run_dir: Path | None = None, checkpoint: dict | None = None,
                 callbacks: dict[str, Callable] | None = None):
        self.cfg, self.callbacks, self.resumed = cfg, callbacks or {}, checkpoint is not None
        self.rank, self.local_rank, self.world = ddp_env()
        self.device = self._setup_device()
        torch.manual_seed(cfg.seed + self.rank)
        data = load_data_config(cfg.data)
        self.train_ds = build_dataset(data, "train", img_size=cfg.img_size, augment=True, seed=cfg.seed,
                                      hyp=augment_config(cfg))
        self.names = list(self.train_ds.names)  # a COCO-JSON YAML may leave names to the JSON
        self.model = self._build_model(checkpoint)
        stride = max(unwrap(self.model).strides)
        if cfg.img_size % stride:
            raise ValueError(f"--img-size {cfg.img_size}: must be a multiple of the model's stride {stride} "
                             f"(e.g. {max(stride, round(cfg.img_size / stride) * stride)})")
        self.val_ds = build_dataset(data, "val", img_size=cfg.img_size, augment=False) if self.main else None
        self.loader = create_dataloader(self.train_ds, cfg.batch_size, workers=cfg.workers, seed=cfg.seed,
                                        multi_scale=cfg.multi_scale, distributed=self.world > 1, drop_last=False)
        self.accumulate = max(round(cfg.nbs / (cfg.batch_size * self.world)), 1)
        decay = cfg.weight_decay * cfg.batch_size * self.world * self.accumulate / cfg.nbs
        self.optimizer = build_optimizer(self.model, cfg.lr0, cfg.momentum, decay, cfg.nesterov, cfg.optimizer)
        self.loss_fn = self._build_loss()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = ModelEMA(self.model) if cfg.ema and self.main else None
        self.epoch, self.best, self.step = 0, -1.0, 0
        self.history: list[float] = []  # per-iteration total loss, for tests and curiosity
        if checkpoint is not None:
            self._restore(checkpoint)
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None)
        self.run_dir = run_dir
        self.log = None

    # ---- construction ------------------------------------------------------------------------
    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def amp(self) -> bool:
        return self.cfg.amp and self.device.type == "cuda"

    def _setup_device(self) -> torch.device:
        dev = select_device(self.cfg.device, rank=self.local_rank)
        if self.world > 1:
            if dev.startswith("cuda"):
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if dev.startswith("cuda") else "gloo")
        return torch.device(dev)

    def _build_model(self, checkpoint: dict | None) -> torch.nn.Module:
        if checkpoint is not None:
            model = model_from_arch(checkpoint["arch"], checkpoint["names"], "checkpoint")
            model.load_state_dict(checkpoint["model"])
        else:
            model, report = initial_model(self.cfg.weights, self.cfg.cfg, self.names)
            if report and self.main:
                print(report)
        model.names = list(self.names)
        model.category_ids = list(self.train_ds.category_ids)  # saved in checkpoints: results keep the data's ids
        self.frozen = freeze(model, self.cfg.freeze)
        if self.frozen and self.main:
            n = sum(p.numel() for _, u in self.frozen for p in u.parameters())
            print(f"freeze {self.cfg.freeze}: {len(self.frozen)} units ({self.frozen[0][0]} ... {self.frozen[-1][0]}), "
                  f"{n:,} parameters fixed")
        if self.cfg.sync_bn and self.world > 1:
            if self.device.type != "cuda":
                raise ValueError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel)")
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model.to(self.device).train()

    def _build_loss(self) -> YOLOLoss:
        cfg, m = self.cfg, unwrap(self.model)
        levels = len(m.strides)
        # yolov5's scaling of the gains by level count, image size and class count
        return YOLOLoss(m, box=cfg.box, iou_thresh=cfg.iou_thresh, label_smoothing=cfg.label_smoothing,
                        box_gain=cfg.box_gain * 3 / levels, cls_gain=cfg.cls_gain * len(self.names) / 80 * 3 / levels,
                        obj_gain=cfg.obj_gain * (cfg.img_size / 640) ** 2 * 3 / levels)

    def _restore(self, ckpt: dict) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.ema is not None and ckpt.get("ema") is not None:
            self.ema.ema.load_state_dict(ckpt["ema"])
            self.ema.updates = ckpt["ema_updates"]
        self.epoch, self.best, self.step = ckpt["epoch"] + 1, ckpt["best_fitness"], ckpt["step"]
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])

    @classmethod
    def resume(cls, path: str | Path, **kwargs) -> "Trainer":
        """Continue the run whose ``last.pt`` is ``path`` (same run folder, same settings)."""
        ckpt = load_checkpoint(path)
        if "train" not in ckpt:
            raise ValueError(f"{path}: not a training checkpoint (no optimizer state); train from it with --weights")
        cfg = TrainConfig(**{f.name: ckpt["train"][f.name] for f in fields(TrainConfig) if f.name in ckpt["train"]})
        path = Path(path).resolve()
        run_dir = path.parent.parent
        if path.parent.name != "weights" or not (run_dir / "opt.yaml").is_file():
            raise ValueError(f"--resume {path}: not a run's weights/last.pt (no {run_dir / 'opt.yaml'}); resume only "
                             "continues the run folder that owns the checkpoint, or start a new run with --weights")
        if ckpt["epoch"] + 1 >= cfg.epochs:
            raise ValueError(f"{path}: that run already finished all {cfg.epochs} epochs")
        return cls(cfg, run_dir=run_dir, checkpoint=ckpt, **kwargs)

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train the remaining epochs; returns the last validation metrics (rank 0)."""
        cfg = self.cfg
        if self.main:
            self.start_run()
        metrics, t0, first = {}, time.time(), self.epoch
        try:
            metrics = self._epochs(first)
        except KeyboardInterrupt:
            if self.main:
                self.interrupted()
            raise
        if self.main:
            if cfg.plots:
                self.log.plot()
            print(f"done: {cfg.epochs - first} epochs in {(time.time() - t0) / 60:.1f} min; best fitness {self.best:.4f}; "
                  f"weights in {self.run_dir / 'weights'}")
        if self.world > 1:
            dist.barrier()
        return metrics

    def interrupted(self) -> None:
        """Ctrl-C/SIGTERM: say what is kept (last.pt is only ever replaced whole) and how to go on."""
        last = self.run_dir / "weights" / "last.pt"
        if last.is_file():  # no plotting here: matplotlib would hold up a stop that should take < 2 s
            print(f"interrupted in epoch {self.epoch + 1}; {last} holds the last finished epoch; continue with: "
                  f"cspdet train --resume {last}")
        else:
            print(f"interrupted in epoch {self.epoch + 1}, before any epoch finished; nothing to resume")

    def _epochs(self, first: int) -> dict:
        cfg, metrics = self.cfg, {}
        for self.epoch in range(first, cfg.epochs):
            t_epoch = time.time()
            losses, lrs = self.train_one_epoch()
            if self.main:
                last = self.epoch + 1 == cfg.epochs
                metrics = self.validate(last) if (self.epoch + 1) % cfg.val_interval == 0 or last else {}
                fitness = metrics.get("AP50", 0.0) * 0.1 + metrics.get("AP", 0.0) * 0.9 if metrics else self.best
                is_best = bool(metrics) and fitness > self.best
                self.best = max(self.best, fitness)
                self.log.add(self.epoch, losses, lrs, metrics)
                self.save(is_best)
                print(self.epoch_line(losses, lrs["weight"], metrics, time.time() - t_epoch))
            if "epoch_end" in self.callbacks:
                self.callbacks["epoch_end"](self)
        return metrics

    def start_run(self) -> None:
        """Rank 0: the run folder, ``opt.yaml`` and ``hyp.yaml`` (what the run was asked to do), the log."""
        cfg = self.cfg
        if self.run_dir is None:
            from ..io.files import new_run_dir

            self.run_dir = new_run_dir(cfg.project, cfg.name, exist_ok=cfg.exist_ok)
        (self.run_dir / "weights").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "opt.yaml").write_text(yaml.safe_dump(asdict(cfg), sort_keys=False))
        (self.run_dir / "hyp.yaml").write_text(yaml.safe_dump(hyp_dict(cfg), sort_keys=False))
        self.log = ResultsLog(self.run_dir, keep=self.resumed)
        if cfg.plots and not self.resumed:
            plot_labels(np.concatenate([np.zeros((0, 5)), *self.train_ds.labels]), self.names,
                        self.run_dir / "labels.jpg")
        print(f"training {cfg.label} on {len(self.train_ds)} images ({len(self.names)} classes), "
              f"{cfg.epochs} epochs, batch {cfg.batch_size} x {self.world} x accumulate {self.accumulate}, "
              f"device {self.device}; results in {self.run_dir}")

    def epoch_line(self, losses: list[float], lr: float, metrics: dict, seconds: float) -> str:
        """The line each epoch leaves on screen (the progress bar above it vanishes)."""
        ap = (f"P {metrics['P']:.4f}  R {metrics['R']:.4f}  AP50 {metrics['AP50']:.4f}  "
              f"AP {metrics['AP']:.4f}" if metrics else "P   -     R   -     AP50   -     AP   -   ")
        width = len(str(self.cfg.epochs))
        return (f"epoch {self.epoch + 1:>{width}}/{self.cfg.epochs}  box {losses[0]:.4f}  obj {losses[1]:.4f}  "
                f"cls {losses[2]:.4f}  {ap}  lr {lr:.2e}  {seconds:.1f}s")

    def train_one_epoch(self) -> tuple[list[float], dict[str, float]]:
        """One epoch -> (mean box, obj, cls loss terms, {parameter group kind: its last lr})."""
        cfg, model = self.cfg, self.model
        model.train()
        frozen_eval(self.frozen)
        self.loader.set_epoch(self.epoch)
        nb = len(self.loader)
        total_steps = cfg.epochs * nb
        warmup = min(round(cfg.warmup_epochs * nb), total_steps // 2)  # short runs still get to lr0
        mean = torch.zeros(3)
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.main, leave=False)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        for i, (images, targets, metas) in enumerate(bar):
            step = self.epoch * nb + i
            if self.main and cfg.plots and step < 3 and self.run_dir is not None:  # as the model sees them (yolov5)
                plot_batch(images, targets, [m.path for m in metas], self.names,
                           self.run_dir / f"train_batch{step}.jpg")
            lr = set_lr(self.optimizer, step, total_steps, warmup, lr0=cfg.lr0, schedule=cfg.schedule, lrf=cfg.lrf,
                        momentum=cfg.momentum, warmup_momentum=cfg.warmup_momentum, warmup_bias_lr=cfg.warmup_bias_lr)
            images = images.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, enabled=self.amp):
                maps = model(images)
            loss, items = self.loss_fn([m.float() for m in maps], targets.to(self.device), images.shape[-2:])
            if not torch.isfinite(loss):
                # stepping on it would turn every weight into NaN; last.pt still holds the last good epoch
                kept = f"; {self.run_dir / 'weights' / 'last.pt'} keeps epoch {self.epoch}" if self.epoch else ""
                raise FloatingPointError(f"epoch {self.epoch + 1}, batch {i + 1}: the loss is {float(loss)} "
                                         f"(box/obj/cls {[round(float(v), 4) for v in items]}); lower --lr0{kept}")
            if self.world > 1:
                loss = loss * self.world  # DDP averages gradients over ranks
            self.scaler.scale(loss).backward()
            if (i + 1) % self.accumulate == 0 or i + 1 == nb:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema is not None:
                    self.ema.update(model)
            mean = (mean * i + items.cpu()) / (i + 1)
            self.history.append(float(loss.detach()) / (self.world if self.world > 1 else 1))
            bar.set_postfix(box=f"{mean[0]:.4f}", obj=f"{mean[1]:.4f}", cls=f"{mean[2]:.4f}",
                            size=images.shape[-1], lr=f"{lr:.2e}")
        self.step = (self.epoch + 1) * nb
        return mean.tolist(), {g.get("kind", str(k)): g["lr"] for k, g in enumerate(self.optimizer.param_groups)}

    def eval_model(self) -> torch.nn.Module:
        return self.ema.ema if self.ema is not None else unwrap(self.model)

    def validate(self, final: bool = False) -> dict:
        loader = create_dataloader(self.val_ds, self.cfg.val_batch_size or self.cfg.batch_size, shuffle=False,
                                   workers=self.cfg.workers)
        pr = str(self.run_dir / "PR_curve.png") if final and self.cfg.plots else None
        return evaluate_model(self.eval_model(), loader, device=self.device, table=final, pr_plot=pr,
                              loss_fn=self.loss_fn)

    def save(self, is_best: bool) -> None:
        """last.pt every epoch, best.pt when fitness improved; each written atomically. Weights that
        diverged to NaN/inf are never written: the previous last.pt stays the last good one."""
        model = unwrap(self.model)
        bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            kept = f"; {self.run_dir / 'weights' / 'last.pt'} keeps epoch {self.epoch}" if self.epoch else ""
            raise FloatingPointError(f"epoch {self.epoch + 1}: {len(bad)} weight tensors are NaN/inf ({bad[0]}, ...) "
                                     f"after the updates; lower --lr0{kept}")
        ckpt = checkpoint_dict(
            model,
            ema={k: v.detach().cpu() for k, v in self.ema.ema.state_dict().items()} if self.ema else None,
            ema_updates=self.ema.updates if self.ema else 0,
            optimizer=self.optimizer.state_dict(), scaler=self.scaler.state_dict() if self.amp else None,
            epoch=self.epoch, step=self.step, best_fitness=self.best, train=asdict(self.cfg), rng=rng_state())
        weights = self.run_dir / "weights"
        atomic_save(ckpt, weights / "last.pt")
        if is_best:
            atomic_save(ckpt, weights / "best.pt")
