#!/usr/bin/env python3
"""scripts/export_model.py refuses bad pipeline folders with one line and a non-zero exit, and writes nothing.

    check_export_model.py SOURCE_DIR LDM_SRC [SD_TEXT_SRC]

SD_TEXT_SRC, a StableDiffusionPipeline folder with a text encoder and tokenizer, adds the refusals of
the text side (made before anything is compiled).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def edited(work, name, ldm, edit):
    """A copy of the LDM folder, changed by edit(folder)."""
    folder = os.path.join(work, name)
    shutil.copytree(ldm, folder)
    edit(folder)
    return folder


def main():
    src_dir, ldm = sys.argv[1], sys.argv[2]
    text_src = sys.argv[3] if len(sys.argv) > 3 else None
    script = os.path.join(src_dir, "scripts", "export_model.py")
    failures = []
    with tempfile.TemporaryDirectory() as work:
        def index_edit(change):
            def edit(folder):
                path = os.path.join(folder, "model_index.json")
                index = json.load(open(path))
                change(index)
                json.dump(index, open(path, "w"))
            return edit

        def other_vae(folder):
            from diffusers import VQModel
            shutil.rmtree(os.path.join(folder, "vqvae"))
            VQModel(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                    up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                    num_vq_embeddings=8).save_pretrained(os.path.join(folder, "vqvae"))

        cases = [
            ("no model_index.json", edited(work, "bare", ldm, lambda f: os.remove(os.path.join(f, "model_index.json"))),
             "has no model_index.json"),
            ("missing component", edited(work, "missing", ldm, lambda f: shutil.rmtree(os.path.join(f, "vqvae"))),
             "names component 'vqvae' (VQModel), but"),
            ("unknown pipeline", edited(work, "sdxl", ldm, index_edit(lambda i: i.update(
                _class_name="StableDiffusionXLPipeline"))), "pipeline 'StableDiffusionXLPipeline' is not one of"),
            ("latent channels", edited(work, "channels", ldm, other_vae),
             "the VAE's latent_channels 4 do not match the UNet's in_channels 3"),
        ]
        if text_src:
            def tokenizer_edit(change):
                def edit(folder):
                    path = os.path.join(folder, "tokenizer", "tokenizer_config.json")
                    config = json.load(open(path))
                    change(config)
                    json.dump(config, open(path, "w"))
                return edit

            def encoder_class(folder):
                path = os.path.join(folder, "text_encoder", "config.json")
                config = json.load(open(path))
                config["architectures"] = ["CLIPTextModelWithProjection"]
                json.dump(config, open(path, "w"))

            def big_id(folder):
                path = os.path.join(folder, "tokenizer", "vocab.json")
                vocab = json.load(open(path))
                vocab["a</w>"] = 4000000
                json.dump(vocab, open(path, "w"))

            cases += [
                ("vocabulary id past the encoder", edited(work, "big_id", text_src, big_id),
                 "vocab.json has ids up to 4000000, but the text encoder takes ids below"),
                ("tokenizer length", edited(work, "length", text_src, tokenizer_edit(
                    lambda c: c.update(model_max_length=64))),
                 "model_max_length 64, but the UNet is exported for --sequence-length 77"),
                ("tokenizer length not a number", edited(work, "length_bad", text_src, tokenizer_edit(
                    lambda c: c.update(model_max_length="long"))), "model_max_length 'long' is not a sequence length"),
                ("no merges", edited(work, "merges", text_src,
                                     lambda f: os.remove(os.path.join(f, "tokenizer", "merges.txt"))),
                 "has no merges.txt"),
                ("encoder class", edited(work, "projection", text_src, encoder_class),
                 "only transformers' CLIPTextModel is exported"),
            ]
        for what, folder, words in cases:
            out = os.path.join(work, "out-" + os.path.basename(folder))
            r = run(script, folder, out, "--format", "torchscript")
            lines = r.stderr.strip().splitlines()
            if r.returncode == 0 or not lines or words not in lines[-1] or not lines[-1].startswith("export_model:"):
                failures.append(f"{what}: rc {r.returncode}, stderr {r.stderr[-400:]!r}")
            if os.path.exists(out):
                failures.append(f"{what}: {out} was written")
        # The output may not be the source.
        copy = edited(work, "same", ldm, lambda f: None)
        r = run(script, copy, copy, "--format", "torchscript", "--overwrite")
        if r.returncode == 0 or "replace its input" not in r.stderr or not os.path.isdir(os.path.join(copy, "vqvae")):
            failures.append(f"output = source: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        leftovers = [n for n in os.listdir(work) if n.startswith(".export")]
        if leftovers:
            failures.append(f"temporary folders left: {leftovers}")
    for f in failures:
        print("FAIL", f)
    print(f"{len(cases) + 1 - len(failures)} of {len(cases) + 1} checks passed" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
