"""The text side of a Stable Diffusion folder for ddim (used by scripts/export_model.py): the
transformers CLIPTextModel in SRC/text_encoder compiled by AOTInductor into OUT/text_encoder/model.pt2,
its config kept, and SRC/tokenizer's files copied to OUT/tokenizer (ddim::CLIPTokenizer reads them).

The package has one model, "model", of static shape: input_ids [1, L] (int64, L = the tokenizer's
model_max_length, the UNet's sequence length) -> [num_hidden_layers + 1, 1, L, D], every hidden
state CLIPTextModel gives with output_hidden_states=True (the embeddings first), each passed
through the final layer norm. Row -1 is last_hidden_state, the prompt embeddings diffusers'
encode_prompt uses; row -(clip_skip + 1) is what encode_prompt computes for clip_skip
(final_layer_norm(hidden_states[-(clip_skip + 1)])). Prompts run one at a time: a pipeline encodes
one prompt and one negative prompt, or one of each per image.
"""
import json
import os
import shutil
import warnings

import torch

import export_unet
from export_unet import ExportError

# The tokenizer files ddim::CLIPTokenizer reads (special_tokens_map.json is optional there).
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


class EveryHiddenState(torch.nn.Module):
    """input_ids [1, L] -> final_layer_norm of every hidden state, stacked: [layers + 1, 1, L, D]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        states = self.model(input_ids, output_hidden_states=True).hidden_states
        return torch.stack([self.model.final_layer_norm(h) for h in states])


def load_text_encoder(src):
    from transformers import CLIPTextModel
    folder = os.path.join(src, "text_encoder")
    config = json.load(open(os.path.join(folder, "config.json")))
    name = (config.get("architectures") or [None])[0]
    if name != "CLIPTextModel":
        raise ExportError(f"{folder}: the text encoder is {name!r}; only transformers' CLIPTextModel is exported "
                          "(SDXL's second encoder, CLIPTextModelWithProjection, and T5 are not)")
    if config.get("use_attention_mask"):
        raise ExportError(f"{folder}/config.json: use_attention_mask true (encode_prompt then passes the "
                          "tokenizer's attention mask), which this export does not give the encoder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CLIPTextModel.from_pretrained(folder).eval()


def tokenizer_length(src):
    """model_max_length from SRC/tokenizer/tokenizer_config.json (ExportError when missing or bad)."""
    folder = os.path.join(src, "tokenizer")
    for name in TOKENIZER_FILES[:3]:
        if not os.path.isfile(os.path.join(folder, name)):
            raise ExportError(f"{folder} has no {name}: the tokenizer needs vocab.json, merges.txt and "
                              "tokenizer_config.json")
    length = json.load(open(os.path.join(folder, "tokenizer_config.json"))).get("model_max_length")
    if not isinstance(length, int) or not 1 <= length <= 4096:
        raise ExportError(f"{folder}/tokenizer_config.json: model_max_length {length!r} is not a sequence length")
    return length


def check_text_side(src, device, sequence_length):
    """The checks that need no compiling, made before anything is exported: (model, length, vocabulary
    size), or ExportError naming the file and value."""
    if device != "cpu":
        raise ExportError(f"--device {device}: the text encoder is exported for the CPU only in this version")
    length = tokenizer_length(src)
    if length != sequence_length:
        raise ExportError(f"{src}/tokenizer: model_max_length {length}, but the UNet is exported for "
                          f"--sequence-length {sequence_length}: give --sequence-length {length}")
    model = load_text_encoder(src)
    config = model.config
    if config.max_position_embeddings < length:
        raise ExportError(f"{src}/text_encoder: max_position_embeddings {config.max_position_embeddings} is "
                          f"shorter than the tokenizer's model_max_length {length}")
    vocab_path = os.path.join(src, "tokenizer", "vocab.json")
    vocab = json.load(open(vocab_path))
    if not isinstance(vocab, dict) or not all(isinstance(i, int) and i >= 0 for i in vocab.values()):
        raise ExportError(f"{vocab_path} is not an object of token: id (ids are integers >= 0)")
    # Every id the tokenizer can give (the special tokens' among them) must index the embedding table:
    # an id past it is read out of bounds inside the compiled encoder.
    config_path = os.path.join(src, "tokenizer", "tokenizer_config.json")
    decoder = json.load(open(config_path)).get("added_tokens_decoder") or {}
    ids = list(vocab.values()) + [int(k) for k in decoder if str(k).lstrip("-").isdigit()]
    largest = max(ids, default=-1)
    if largest >= config.vocab_size:
        where = vocab_path if largest in vocab.values() else f"{config_path} added_tokens_decoder"
        raise ExportError(f"{where} has ids up to {largest}, but the text encoder takes ids below "
                          f"{config.vocab_size} (vocab_size of {src}/text_encoder/config.json)")
    return model, length, min(len(vocab), config.vocab_size)


def export_text_encoder(src, folder, device, march, threads, checked):
    """Writes folder/text_encoder/ and folder/tokenizer/ from what check_text_side gave; returns the
    ddim_export.json record."""
    from torch._inductor import aot_compile
    from torch._inductor.package import load_package, package_aoti

    model, length, vocab_size = checked
    config = model.config
    wrapper = EveryHiddenState(model).eval()
    out = os.path.join(folder, "text_encoder")
    os.makedirs(out)
    n_threads = threads or torch.get_num_threads()
    configs, metadata, cpu_features, _ = export_unet.package_settings(device, "float32", march, n_threads)
    metadata.update({"ddim.inputs": "input_ids", "ddim.kind": "clip_text_encoder",
                     "ddim.sequence_length": str(length), "ddim.hidden_size": str(config.hidden_size),
                     "ddim.num_hidden_layers": str(config.num_hidden_layers)})
    gen = torch.Generator().manual_seed(0)
    example = torch.randint(0, vocab_size, (1, length), generator=gen)
    path = os.path.join(out, "model.pt2")
    with export_unet.torch_threads(n_threads), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(wrapper, (example,))
        files = {"model": aot_compile(ep.module(), (example,), options=dict(configs, **{
            "aot_inductor.metadata": metadata}))}
        package_aoti(path, files)
        compiled = load_package(path, "model")
        worst = 0.0
        for trial in range(3):
            ids = torch.randint(0, vocab_size, (1, length), generator=gen)
            expected = wrapper(ids)
            got = compiled(ids)
            got = got[0] if isinstance(got, (list, tuple)) else got
            if got.shape != expected.shape:
                raise ExportError(f"the compiled text encoder gives {tuple(got.shape)}, eager {tuple(expected.shape)}")
            # Row -1 must be what CLIPTextModel itself returns as last_hidden_state.
            last = model(ids).last_hidden_state
            worst = max(worst, (got - expected).abs().max().item(), (got[-1] - last).abs().max().item())
    if not worst <= 1e-4:
        raise ExportError(f"the compiled text encoder differs from eager by {worst:.3g} (> 1e-4)")
    config.save_pretrained(out)
    tokenizer_out = os.path.join(folder, "tokenizer")
    os.makedirs(tokenizer_out)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(src, "tokenizer", name)):
            shutil.copy(os.path.join(src, "tokenizer", name), tokenizer_out)
    return {"class": "CLIPTextModel", "file": "text_encoder/model.pt2", "sequence_length": length,
            "hidden_size": config.hidden_size, "num_hidden_layers": config.num_hidden_layers,
            "cpu_features": cpu_features, "threads": n_threads, "error": worst}
