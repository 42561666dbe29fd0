#!/usr/bin/env python3
"""Train the embedded models: a small UNet2DModel with DDPMScheduler on scikit-learn's digits.

    .venv/bin/python scripts/train_digits.py [--arch base] [--steps 5000] [--out build/digits-train]
                                             [--export models/digits]
    .venv/bin/python scripts/train_digits.py --conditional --init-from models/digits [--label-dropout 0.2]
                                             [--lr 5e-4] [--class-lr 2e-2] [--freeze-null-class]
                                             [--distill-null MODEL [--null-distill-weight W]]
                                             [--guidance-scale G]
                                             --out build/digits-cond-train --export models/digits-cond

The 8x8 digits ship inside scikit-learn (no download). They are scaled to [-1, 1], upscaled to
32x32 (bilinear) and the model learns to predict the noise (epsilon) of the DDPM forward process.
The first 80% of a seeded shuffle is the training set; the rest is held out for
scripts/eval_digits.py. Training follows DDPM practice: AdamW with a linear learning-rate warm-up
and a cosine decay to zero, gradient clipping, an exponential moving average (EMA) of the weights
(its decay ramps up as (1 + s) / (10 + s) to --ema-decay), and, with --shift S, each training digit
moved by a random whole number of pixels in [-S, S] along each axis (the background filling in).
Everything is seeded; on CPU the run is repeatable on the same machine. The EMA weights are saved
as a diffusers pipeline folder (also every --checkpoint-every steps, to OUT/checkpoint) and
exported with scripts/export_unet.py into the model folder.

--conditional trains a class-conditional model for classifier-free guidance: the UNet2DModel gets
an embedding table of 11 rows (num_class_embeds), the digit's class 0..9 and a null class 10 (DiT's
convention, as diffusers' UNet2DModel has none), and each training digit's label is replaced by the
null class with probability --label-dropout. The export records the null class and --guidance-scale
(the default guidance of ddim-generate for this model, chosen with scripts/eval_digits.py).

--init-from MODEL starts from the weights of an unconditional model of the same architecture (a ddim
model folder with a TorchScript unet/model.pt, such as models/digits, or a diffusers pipeline
folder). With --conditional the class-embedding table starts at zero: every label then adds
nothing to the time embedding, so the model starts as exactly the unconditional one, and the null
class keeps what it learnt while the ten digit rows are learnt. --freeze-null-class keeps the null
row where it starts (at zero after --init-from: the unconditional model's own time embedding) while
the digit rows learn, so that a large --class-lr moves only the ten digit rows.

--distill-null MODEL gives the null class MODEL's noise prediction as its target in place of the
noise, so that guidance's unconditional half stays the unconditional model while the shared weights
learn the classes. --null-distill-weight W adds, every step, that target for every digit of the
batch under the null class (weighted W; the labelled and null halves go through one UNet call of
batch 2B), so the null class is held on every step rather than on --label-dropout's share of them.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from sklearn.datasets import load_digits

SIZE = 32

# The candidate architectures compared per training minute (models/README.md has the figures).
# Each has attention at its lowest resolution (8x8) only.
ARCHITECTURES = {
    # The first embedded model's: 1.1 M parameters.
    "base": dict(block_out_channels=(32, 64, 64), layers_per_block=1),
    # 1.5 times the channels at 8x8, where a convolution costs a sixteenth of one at 32x32: 1.9 M.
    "wide": dict(block_out_channels=(32, 64, 96), layers_per_block=1),
    # Two ResNet blocks per level: 1.6 M, about 1.6 times the compute per step.
    "deep": dict(block_out_channels=(32, 64, 64), layers_per_block=2),
}


# The sampling settings the model folder's scheduler config carries: they change nothing in training
# (add_noise reads neither), and were chosen with scripts/eval_digits.py (models/README.md).
SAMPLING = dict(clip_sample=False, timestep_spacing="leading")


def digits_dataset(seed=0):
    """(train, held_out) as float32 tensors [N, 1, 32, 32] in [-1, 1], plus their labels."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 1) * 2 - 1
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(x))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


# --conditional: the ten digit classes and the null class of classifier-free guidance.
NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES


def make_unet(arch="base", conditional=False):
    return UNet2DModel(
        sample_size=SIZE,
        in_channels=1,
        out_channels=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=16,
        attention_head_dim=16,
        num_class_embeds=NUM_CLASSES + 1 if conditional else None,
        **ARCHITECTURES[arch],
    )


def load_initial_weights(unet, source):
    """Load `source`'s UNet weights into `unet`; a class-embedding table it lacks starts at zero."""
    if os.path.isfile(os.path.join(source, "unet", "model.pt")):
        from export_unet import load_ddim_folder  # the weights of a TorchScript export, by their UNet names
        state = load_ddim_folder(source).state_dict()
    elif os.path.isdir(os.path.join(source, "unet")):
        state = UNet2DModel.from_pretrained(source, subfolder="unet").state_dict()
    else:
        sys.exit(f"--init-from {source}: neither a ddim model folder (unet/model.pt) nor a diffusers pipeline folder (unet/)")
    own = unet.state_dict()
    added = sorted(set(own) - set(state))
    if set(state) - set(own) or any(not k.startswith("class_embedding.") for k in added):
        sys.exit(f"--init-from {source}: its UNet is not this --arch (weights differ: "
                 f"{sorted(set(state) ^ set(own))[:3]})")
    for k, v in state.items():
        if v.shape != own[k].shape:
            sys.exit(f"--init-from {source}: weight {k} is {list(v.shape)}, this --arch has {list(own[k].shape)}")
    with torch.no_grad():
        for k in added:
            own[k].zero_()
    own.update(state)
    unet.load_state_dict(own)
    return added


def random_shift(x, max_shift, gen):
    """Each image moved by its own whole-pixel offset in [-max_shift, max_shift]^2; background (-1) fills in."""
    if max_shift == 0:
        return x
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=gen).tolist()
    return torch.stack([padded[i, :, dy:dy + SIZE, dx:dx + SIZE] for i, (dy, dx) in enumerate(offsets)])


def learning_rate_factor(step, steps, warmup):
    """Linear warm-up over `warmup` steps, then a cosine from 1 to 0 at `steps`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def save_pipeline(unet, scheduler, out):
    os.makedirs(out, exist_ok=True)
    unet.save_pretrained(os.path.join(out, "unet"))
    scheduler.save_pretrained(os.path.join(out, "scheduler"))
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
                   "unet": ["diffusers", "UNet2DModel"]}, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="base")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps")
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--shift", type=int, default=0, help="largest random shift in pixels (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (default: every core); results repeat for the same count")
    parser.add_argument("--conditional", action="store_true",
                        help="class-conditional, with a null class for classifier-free guidance")
    parser.add_argument("--label-dropout", type=float, default=0.1,
                        help="--conditional: share of training digits whose label is the null class")
    parser.add_argument("--guidance-scale", type=float, default=None,
                        help="--conditional: the default guidance the export records")
    parser.add_argument("--class-lr", type=float, default=None,
                        help="--conditional: learning rate of the class-embedding table (default: --lr); a "
                             "table starting at zero (--init-from an unconditional model) needs more")
    parser.add_argument("--freeze-null-class", action="store_true",
                        help="--conditional: the null class's row of the table is not trained (stays at zero "
                             "with --init-from)")
    parser.add_argument("--distill-null", default="", metavar="MODEL",
                        help="--conditional: the null class learns this unconditional model's noise prediction "
                             "instead of the noise, so guidance's unconditional half stays that model")
    parser.add_argument("--null-distill-weight", type=float, default=0.0, metavar="W",
                        help="--distill-null: also, every step, every digit's null-class prediction learns MODEL's, "
                             "weighted W against the labelled loss (twice the UNet work per step; 0: off)")
    parser.add_argument("--init-from", default="", metavar="MODEL",
                        help="start from this unconditional model's weights (e.g. models/digits)")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between EMA checkpoints (0: none)")
    parser.add_argument("--out", default="build/digits-train", help="diffusers pipeline folder to write")
    parser.add_argument("--export", default="models/digits", help="ddim model folder to export to ('' to skip)")
    parser.add_argument("--export-format", default="torchscript", choices=["torchscript", "aoti", "both"],
                        help="what --export writes (the committed model is TorchScript; setup.sh compiles it)")
    args = parser.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.warmup < 1 or args.shift < 0 or not 0 < args.ema_decay < 1:
        parser.error("--steps, --batch-size and --warmup must be >= 1, --shift >= 0, --ema-decay in (0, 1)")
    if args.threads < 0:
        parser.error(f"--threads {args.threads}: must be >= 1 (or 0 for every core)")
    if not 0 <= args.label_dropout < 1:
        parser.error(f"--label-dropout {args.label_dropout}: must be in [0, 1)")
    if args.class_lr is not None and not (args.conditional and args.class_lr > 0):
        parser.error(f"--class-lr {args.class_lr}: needs --conditional and a value > 0")
    if args.freeze_null_class and not args.conditional:
        parser.error("--freeze-null-class needs --conditional")
    if args.distill_null and not args.conditional:
        parser.error("--distill-null needs --conditional")
    if args.null_distill_weight < 0 or (args.null_distill_weight and not args.distill_null):
        parser.error(f"--null-distill-weight {args.null_distill_weight}: needs --distill-null and a value >= 0")
    if args.guidance_scale is not None and not (args.conditional and args.guidance_scale >= 0):
        parser.error("--guidance-scale needs --conditional and a value >= 0")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    (train_x, train_y), _ = digits_dataset(args.seed)
    unet = make_unet(args.arch, args.conditional)
    if args.init_from:
        added = load_initial_weights(unet, args.init_from)
        print(f"starting from {args.init_from}" + (f" ({', '.join(added)} at zero)" if added else ""), flush=True)
    ema = make_unet(args.arch, args.conditional)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    teacher = None
    if args.distill_null:
        teacher = make_unet(args.arch, False)
        load_initial_weights(teacher, args.distill_null)
        teacher.requires_grad_(False).eval()
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", **SAMPLING)
    table = [p for n, p in unet.named_parameters() if n.startswith("class_embedding.")]
    rest = [p for n, p in unet.named_parameters() if not n.startswith("class_embedding.")]
    if args.freeze_null_class:
        # A zero gradient keeps AdamW's moments, and so the row, exactly where they start.
        keep = torch.ones(NUM_CLASSES + 1, 1)
        keep[NULL_CLASS] = 0
        unet.class_embedding.weight.register_hook(lambda grad: grad * keep)
    groups = [{"params": rest}] + ([{"params": table, "lr": args.class_lr or args.lr}] if table else [])
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.0)
    sched_lr = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: learning_rate_factor(s, args.steps, args.warmup))
    gen = torch.Generator().manual_seed(args.seed + 1)
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"training {args.arch}{' (class-conditional)' if args.conditional else ''}: {n_params} parameters on {len(train_x)} digits, {args.steps} steps of "
          f"{args.batch_size}", flush=True)
    start = time.time()
    unet.train()
    for step in range(args.steps):
        idx = torch.randint(0, len(train_x), (args.batch_size,), generator=gen)
        x0 = random_shift(train_x[idx], args.shift, gen)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (args.batch_size,), generator=gen)
        labels = None
        if args.conditional:
            dropped = torch.rand(args.batch_size, generator=gen) < args.label_dropout
            labels = torch.where(dropped, NULL_CLASS, train_y[idx])
        noisy = scheduler.add_noise(x0, noise, t)
        target = noise
        null_target = None
        if teacher is not None and (args.null_distill_weight or dropped.any()):
            with torch.no_grad():
                whom = slice(None) if args.null_distill_weight else dropped
                null_target = torch.zeros_like(noise)
                null_target[whom] = teacher(noisy[whom], t[whom]).sample
            target = torch.where(dropped[:, None, None, None], null_target, noise)
        if args.null_distill_weight:
            # One UNet call of batch 2B: the digits under their labels, then the same digits as the null class.
            pred, null_pred = unet(torch.cat([noisy, noisy]), torch.cat([t, t]),
                                   class_labels=torch.cat([labels, torch.full_like(labels, NULL_CLASS)])).sample.chunk(2)
            loss = F.mse_loss(pred, target) + args.null_distill_weight * F.mse_loss(null_pred, null_target)
        else:
            loss = F.mse_loss(unet(noisy, t, class_labels=labels).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched_lr.step()
        with torch.no_grad():
            decay = min(args.ema_decay, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.mul_(decay).add_(p, alpha=1 - decay)
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:7.1f} s", flush=True)
        if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and step + 1 < args.steps:
            save_pipeline(ema, scheduler, os.path.join(args.out, f"checkpoint-{step + 1}"))
    minutes = (time.time() - start) / 60
    save_pipeline(ema, scheduler, args.out)
    training = {"arch": args.arch, "block_out_channels": list(ARCHITECTURES[args.arch]["block_out_channels"]),
                "layers_per_block": ARCHITECTURES[args.arch]["layers_per_block"], "steps": args.steps,
                "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup, "schedule": "cosine",
                "ema_decay": args.ema_decay, "shift": args.shift, "seed": args.seed, "parameters": n_params,
                "minutes": round(minutes, 1), "threads": torch.get_num_threads(), "torch_version": torch.__version__}
    if args.conditional:
        training.update(conditional=True, num_classes=NUM_CLASSES, null_class=NULL_CLASS,
                        label_dropout=args.label_dropout, class_lr=args.class_lr or args.lr)
        if args.freeze_null_class:
            training["freeze_null_class"] = True
        if args.distill_null:
            training["distill_null"] = args.distill_null
            if args.null_distill_weight:
                training["null_distill_weight"] = args.null_distill_weight
    if args.init_from:
        training["init_from"] = args.init_from
        if os.path.isfile(os.path.join(args.init_from, "unet", "model.pt")):
            with open(os.path.join(args.init_from, "unet", "model.pt"), "rb") as f:
                training["init_from_sha256"] = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(training, f, indent=2)
    print(f"trained in {minutes:.1f} min; saved {args.out}", flush=True)
    if args.export:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_unet.py")
        command = [sys.executable, script, args.out, args.export, "--overwrite", "--format", args.export_format]
        if args.conditional:
            command += ["--null-class", str(NULL_CLASS)]
            if args.guidance_scale is not None:
                command += ["--guidance-scale", str(args.guidance_scale)]
        subprocess.run(command, check=True)
        with open(os.path.join(args.export, "training.json"), "w") as f:
            json.dump(training, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
