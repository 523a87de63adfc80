"""Training: one loop for CPU, one GPU and ``torchrun`` DDP, resumable bit for bit on CPU."""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import asdict, fields
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
from .backward import backward, shared_thread
from .config import TrainConfig
from .finetune import freeze, freeze_bn_stats, frozen_eval, initial_model
from .hyp import augment_config, hyp_dict
from .loss import YOLOLoss, darknet_loss, model_iou_thresh
from .optim import ModelEMA, build_optimizer, set_lr, unwrap
from .train_plots import plot_batch, plot_labels
from .results_log import ResultsLog
from .validate import evaluate_model


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
        self.stride = stride
        if cfg.cache:
            self._cache_images()
        self.loader = create_dataloader(self.train_ds, cfg.batch_size, workers=cfg.workers, seed=cfg.seed,
                                        multi_scale=cfg.multi_scale, distributed=self.world > 1, drop_last=False,
                                        **({"rect": True, "stride": stride} if cfg.rect else {}))
        self.accumulate = max(round(cfg.nbs / (cfg.batch_size * self.world)), 1)
        decay = cfg.weight_decay * cfg.batch_size * self.world * self.accumulate / cfg.nbs
        self.optimizer = build_optimizer(self.model, cfg.lr0, cfg.momentum, decay, cfg.nesterov, cfg.optimizer)
        if cfg.iou_thresh is None:  # resolved once, so opt.yaml, hyp.yaml and --resume hold the value used
            m = unwrap(self.model)
            cfg.iou_thresh = model_iou_thresh(m, None, getattr(m, "knows_classes", False))
        self.loss_fn = self._build_loss()
        # yolov5's high early bias lr lets a fresh head find the objectness prior; a loaded head
        # has it already, and 0.1 against lr0 0.001 moved a converged model's biases 100x too far
        self.bias_lr0 = min(cfg.warmup_bias_lr, cfg.lr0) if cfg.weights else cfg.warmup_bias_lr
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.ema = ModelEMA(self.model) if cfg.ema and self.main else None
        self.epoch, self.best, self.step, self.best_epoch = 0, -1.0, 0, -1
        self.history: list[float] = []  # per-iteration total loss, for tests and curiosity
        if checkpoint is not None:
            self._restore(checkpoint)
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None)
        self.run_dir = run_dir
        self.log = None
        self.batch, self.best_metrics = 0, None
        # Ctrl-C / SIGTERM act during a long backward pass (engine/backward.py); DDP keeps its own hooks' thread
        main_thread = threading.current_thread() is threading.main_thread()
        self._backward = shared_thread() if self.world == 1 and main_thread else None

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
        if self.cfg.freeze_bn and self.main:
            n = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
            print(f"--freeze-bn: {n} batch norms keep their running statistics (their scale and shift train)")
        if self.cfg.sync_bn and self.world > 1:
            if self.device.type != "cuda":
                raise ValueError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel)")
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model.to(self.device).train()

    def _build_loss(self) -> YOLOLoss:
        cfg, m = self.cfg, unwrap(self.model)
        levels = len(m.strides)
        if cfg.loss == "darknet" or (cfg.loss == "auto" and hasattr(m, "loss_settings")):
            return darknet_loss(m, cfg.nbs)
        # yolov5's scaling of the gains by level count, image size and class count
        return YOLOLoss(m, box=cfg.box, iou_thresh=cfg.iou_thresh,
                        label_smoothing=cfg.label_smoothing,
                        box_gain=cfg.box_gain * 3 / levels, cls_gain=cfg.cls_gain * len(self.names) / 80 * 3 / levels,
                        obj_gain=cfg.obj_gain * (cfg.img_size / 640) ** 2 * 3 / levels)

    def _restore(self, ckpt: dict) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.ema is not None and ckpt.get("ema") is not None:
            self.ema.ema.load_state_dict(ckpt["ema"])
            self.ema.updates = ckpt["ema_updates"]
        self.epoch, self.best, self.step = ckpt["epoch"] + 1, ckpt["best_fitness"], ckpt["step"]
        self.best_epoch = ckpt.get("best_epoch", ckpt["epoch"])
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

    def _cache_images(self) -> None:
        """``--cache ram|disk``: decode every training and validation image once, up front."""
        for what, ds in (("train", self.train_ds), ("val", self.val_ds)):
            if ds is not None:
                nbytes = ds.cache_images(self.cfg.cache, progress=self.main)
                if self.main:
                    print(f"--cache {self.cfg.cache}: {len(ds)} {what} images, {nbytes / 1e6:.1f} MB"
                          + ("" if nbytes else " (not cached)"))

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train the remaining epochs; returns the last epoch's validation metrics (rank 0). Then,
        as yolov5, best.pt is validated and reported (``final_val``; its metrics: ``best_metrics``)."""
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
            print(f"done: {self.epoch + 1 - first} epochs in {(time.time() - t0) / 60:.1f} min; best fitness "
                  f"{self.best:.4f}; weights in {self.run_dir / 'weights'}")
            from .final_val import validate_best

            self.best_metrics = validate_best(self)
        if self.world > 1:
            dist.barrier()
        return metrics

    def interrupted(self) -> None:
        """Ctrl-C/SIGTERM: say what is kept (last.pt is only ever replaced whole) and how to go on."""
        last = self.run_dir / "weights" / "last.pt"
        where = f"epoch {self.epoch + 1}, batch {self.batch + 1}/{len(self.loader)}"
        if last.is_file():  # no plotting here: matplotlib would hold up a stop that should take < 2 s
            print(f"interrupted in {where}; {last} holds the last finished epoch; continue with: "
                  f"cspdet train --resume {last}")
        else:
            print(f"interrupted in {where}, before any epoch finished; nothing to resume")

    def _epochs(self, first: int) -> dict:
        cfg, metrics = self.cfg, {}
        for self.epoch in range(first, cfg.epochs):
            t_epoch = time.time()
            losses, lrs = self.train_one_epoch()
            stop = False
            if self.main:
                last = self.epoch + 1 == cfg.epochs
                metrics = self.validate() if (self.epoch + 1) % cfg.val_interval == 0 or last else {}
                fitness = metrics.get("AP50", 0.0) * 0.1 + metrics.get("AP", 0.0) * 0.9 if metrics else self.best
                is_best = bool(metrics) and fitness > self.best
                self.best = max(self.best, fitness)
                self.best_epoch = self.epoch if is_best else self.best_epoch
                self.log.add(self.epoch, losses, lrs, metrics)
                self.save(is_best)
                print(self.epoch_line(losses, lrs["weight"], metrics, time.time() - t_epoch))
                stop = self.patience_ran_out()
            if "epoch_end" in self.callbacks:
                self.callbacks["epoch_end"](self)
            if self._agree(stop):
                break
        return metrics

    def patience_ran_out(self) -> bool:
        """yolov5's ``--patience``: True (and say so) once ``patience`` epochs passed without a
        better fitness than the best epoch's."""
        waited = self.epoch - self.best_epoch
        if not self.cfg.patience or waited < self.cfg.patience or self.epoch + 1 == self.cfg.epochs:
            return False
        print(f"stopping early: no improvement in the last {waited} epochs (--patience {self.cfg.patience}); the "
              f"best, epoch {self.best_epoch + 1}, is {self.run_dir / 'weights' / 'best.pt'}")
        return True

    def _agree(self, stop: bool) -> bool:
        """Rank 0's decision, shared with every rank of a DDP run."""
        if self.world == 1:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        dist.broadcast(flag, 0)
        return bool(flag.item())

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
        if cfg.freeze_bn:
            freeze_bn_stats(model)
        self.loader.set_epoch(self.epoch)
        nb = len(self.loader)
        total_steps = cfg.epochs * nb
        warmup = min(round(cfg.warmup_epochs * nb), total_steps // 2)  # short runs still get to lr0
        mean = torch.zeros(3)
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.main, leave=False)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        for i, (images, targets, metas) in enumerate(bar):
            step, self.batch = self.epoch * nb + i, i
            if self.main and cfg.plots and step < 3 and self.run_dir is not None:  # as the model sees them (yolov5)
                plot_batch(images, targets, [m.path for m in metas], self.names,
                           self.run_dir / f"train_batch{step}.jpg")
            lr = set_lr(self.optimizer, step, total_steps, warmup, lr0=cfg.lr0, schedule=cfg.schedule, lrf=cfg.lrf,
                        momentum=cfg.momentum, warmup_momentum=cfg.warmup_momentum, warmup_bias_lr=self.bias_lr0)
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
            backward(self.scaler.scale(loss), self._backward)
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

    def val_loader(self):
        """The validation split's loader (``--rect``: batches by aspect ratio, padded as yolov5's val)."""
        rect = {"rect": True, "pad": 0.5, "stride": self.stride} if self.cfg.rect else {}
        return create_dataloader(self.val_ds, self.cfg.val_batch_size or self.cfg.batch_size, shuffle=False,
                                 workers=self.cfg.workers, **rect)

    def validate(self) -> dict:
        """The EMA model's metrics and validation losses after an epoch."""
        return evaluate_model(self.eval_model(), self.val_loader(), device=self.device, loss_fn=self.loss_fn)

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
            epoch=self.epoch, step=self.step, best_fitness=self.best, best_epoch=self.best_epoch,
            train=asdict(self.cfg), rng=rng_state())
        weights = self.run_dir / "weights"
        atomic_save(ckpt, weights / "last.pt")
        if is_best:
            atomic_save(ckpt, weights / "best.pt")
