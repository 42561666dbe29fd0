#!/usr/bin/env python3
"""scripts/export_unet.py refuses bad input with one line and a non-zero exit, and leaves nothing behind.

    check_export_unet.py SOURCE_DIR TINY_SRC
"""
import os
import subprocess
import sys
import tempfile


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def main():
    src_dir, tiny = sys.argv[1], sys.argv[2]
    script = os.path.join(src_dir, "scripts", "export_unet.py")
    failures = []
    with tempfile.TemporaryDirectory() as work:
        # A source that is neither a pipeline nor a UNet folder.
        empty = os.path.join(work, "empty")
        os.makedirs(empty)
        r = run(script, empty, os.path.join(work, "out1"))
        if r.returncode == 0 or "neither a pipeline folder" not in r.stderr:
            failures.append(f"empty source: rc {r.returncode}, stderr {r.stderr!r}")
        # An existing, non-empty output folder is not overwritten without --overwrite.
        busy = os.path.join(work, "busy")
        os.makedirs(busy)
        open(os.path.join(busy, "keep.txt"), "w").write("x")
        r = run(script, tiny, busy)
        if r.returncode == 0 or "not empty" not in r.stderr or not os.path.exists(os.path.join(busy, "keep.txt")):
            failures.append(f"busy output: rc {r.returncode}, stderr {r.stderr!r}")
        # A good export, then nothing but the model folder is left in the parent.
        r = run(script, tiny, os.path.join(work, "model"))
        expected = {"model_index.json", "unet", "scheduler", "ddim_export.json"}
        if (r.returncode != 0 or set(os.listdir(os.path.join(work, "model"))) != expected
                or set(os.listdir(os.path.join(work, "model", "unet"))) != {"config.json", "model.pt2"}):
            failures.append(f"good export: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        leftovers = [n for n in os.listdir(work) if n.startswith(".export-")]
        if leftovers:
            failures.append(f"temporary folders left: {leftovers}")
        # A bare UNet folder: the scheduler config is a default DDIMScheduler one.
        r = run(script, os.path.join(tiny, "unet"), os.path.join(work, "bare"), "--format", "torchscript")
        cfg = os.path.join(work, "bare", "scheduler", "scheduler_config.json")
        if r.returncode != 0 or '"DDIMScheduler"' not in open(cfg).read():
            failures.append(f"bare UNet folder: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        # A ddim model folder (weights read back from its TorchScript file) exports again.
        r = run(script, os.path.join(work, "bare"), os.path.join(work, "again"), "--format", "torchscript")
        if r.returncode != 0 or not os.path.isfile(os.path.join(work, "again", "unet", "model.pt")):
            failures.append(f"ddim folder as source: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        # Option values the compiler would see are checked first.
        for bad, words in ((["--threads", "-1"], "--threads -1"), (["--march", "x; rm -rf /"], "--march"),
                           (["--dtype", "float32,int8"], "'int8' is not one of"),
                           (["--dtype", "float32,float32"], "named twice"),
                           (["--dtype", "float32,bfloat16", "--format", "torchscript"], "needs --format aoti"),
                           (["--static-batches", "1"], "static batches start at 2"),
                           (["--static-batches", "4,x"], "'4,x' is not a comma-separated list"),
                           (["--static-batches", "4", "--format", "torchscript"], "needs --format aoti")):
            r = run(script, tiny, os.path.join(work, "bad"), *bad)
            if r.returncode == 0 or words not in r.stderr or os.path.exists(os.path.join(work, "bad")):
                failures.append(f"{bad}: rc {r.returncode}, stderr {r.stderr!r}")
        # Conditional UNets that need inputs ddim does not give are refused by the config key; so is a
        # null class or guidance that does not fit the model.
        from diffusers import UNet2DConditionModel, UNet2DModel
        small = dict(sample_size=8, layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=4)
        cross = dict(small, in_channels=4, out_channels=4, cross_attention_dim=8, attention_head_dim=2,
                     down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                     up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
        plain = dict(small, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
        refused = [
            (UNet2DConditionModel(**cross, addition_embed_type="text_time", addition_time_embed_dim=4,
                                  projection_class_embeddings_input_dim=16), [], "addition_embed_type"),
            (UNet2DConditionModel(**cross, time_cond_proj_dim=8), [], "time_cond_proj_dim"),
            (UNet2DConditionModel(**cross, encoder_hid_dim=8, encoder_hid_dim_type="text_proj"), [],
             "encoder_hid_dim_type"),
            (UNet2DModel(**plain, class_embed_type="timestep"), [], "class_embed_type is 'timestep'"),
            (UNet2DModel(**plain, class_embed_type="identity"), [], "class_embed_type is 'identity'"),
            (UNet2DModel(**plain), ["--null-class", "0"], "no class embedding"),
            (UNet2DModel(**plain, num_class_embeds=3), ["--null-class", "3"], "--null-class 3 is not a row"),
            (UNet2DModel(**plain), ["--guidance-scale", "2"], "takes no condition"),
            (UNet2DModel(**plain, num_class_embeds=3), ["--guidance-scale", "-1"], "--guidance-scale -1"),
            (UNet2DConditionModel(**cross), ["--sequence-length", "0"], "--sequence-length 0"),
        ]
        for i, (unet, flags, words) in enumerate(refused):
            folder = os.path.join(work, f"cond{i}")
            unet.save_pretrained(folder)
            r = run(script, folder, os.path.join(work, f"cond{i}-out"), *flags)
            lines = [line for line in r.stderr.splitlines() if line.strip() and "Warning" not in line]
            if r.returncode == 0 or words not in r.stderr or os.path.exists(os.path.join(work, f"cond{i}-out")):
                failures.append(f"conditional refusal {words!r}: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
            elif not lines[-1].startswith("export_unet: "):
                failures.append(f"conditional refusal {words!r}: last line {lines[-1]!r}")
        # --device cuda without a GPU is a one-line refusal.
        if not __import__("torch").cuda.is_available():
            r = run(script, tiny, os.path.join(work, "cuda"), "--device", "cuda")
            if r.returncode == 0 or "CUDA" not in r.stderr or os.path.exists(os.path.join(work, "cuda")):
                failures.append(f"cuda without GPU: rc {r.returncode}, stderr {r.stderr!r}")
    for f in failures:
        print("FAIL", f)
    print(f"export_unet checks: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
