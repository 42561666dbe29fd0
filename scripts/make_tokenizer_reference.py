#!/usr/bin/env python3
"""Reference token ids from transformers' CLIPTokenizer, for the C++ tokenizer's parity test.

Usage: make_tokenizer_reference.py TOKENIZER_DIR OUT_DIR [--count N] [--seed S]

Writes, from the tokenizer folder TOKENIZER_DIR (scripts/make_clip_vocab.py):
  OUT_DIR/prompts.json      {"strings": [...], "input_ids": [[...], ...]}: N strings (10000) drawn
                            from a fixed seed, tokenized as StableDiffusionPipeline does it
                            (padding="max_length", max_length=model_max_length, truncation=True)
  OUT_DIR/code_points.txt   for every code point C but the surrogates, in order, one line with the
                            ids of code_point_probe(C) between <|startoftext|> and <|endoftext|>,
                            in hexadecimal
"""

import argparse
import json
import pathlib
import random

from transformers import CLIPTokenizer

WORDS = (
    "a photo of an astronaut riding a horse on mars, highly detailed, 4k, trending on artstation, by greg "
    "rutkowski and alphonse mucha, oil painting, cinematic lighting, portrait of a cat wearing sunglasses, "
    "cyberpunk city at night, neon, rain, bokeh, 35mm, octane render, unreal engine, watercolor, "
    "minimalist, the quick brown fox jumps over the lazy dog, HDR, ultra-realistic, 8K UHD, DSLR, "
    "masterpiece, best quality, illustration, anime style, studio ghibli, van gogh, isn't don't we're "
    "they've I'm you'll she'd IT'S WE'LL Ain't o'clock rock'n'roll"
).replace(",", " ,").split()
ACCENTED = ["café", "naïve", "résumé", "Ångström", "São Paulo", "Zürich", "façade", "jalapeño", "Dvořák",
            "Łódź", "Ærøskøbing", "straße", "STRASSE", "ΟΔΥΣΣΕΥΣ", "Σίσυφος", "Москва", "Київ", "Ελλάδα",
            "İstanbul", "IĞDIR", "ǅemal", "ǈ", "ﬁne", "ﬀ", "Ⅻ", "ℌ", "K", "Å", "ẞ", "ΐ", "ﬓ"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0323", "\u0302", "\u030a", "\u0331", "\u0345", "\u0334",
             "\u05b0", "\u0316", "\u093c", "\u0e48", "\u302a", "\u1ab0", "\u20dd", "\u0307"]
CJK = ["東京", "猫", "富士山の夜景", "北京烤鸭", "한국어", "서울의 밤", "カタカナ", "ひらがな", "漢字テスト", "中文，标点。",
       "「引用」", "𠮷野家", "𪚥"]
OTHER_SCRIPTS = ["مرحبا بالعالم", "שלום", "नमस्ते दुनिया", "ภาษาไทย", "ქართული", "Հայերեն", "ᚠᚢᚦ", "ꦲꦏ꧀ꦱꦫ",
                 "𓂀𓃰", "ⴰⵣⵓⵍ", "ᏣᎳᎩ", "ܐܪܡܝܐ"]
NUMBERS = ["0", "42", "3.14159", "1,000,000", "2024-01-01", "٣", "٠١٢٣٤٥٦٧٨٩", "۴", "½", "²", "³", "¼",
           "①", "Ⅷ", "〇", "𝟘𝟙", "१२३", "๓", "፲", "1e-5", "-7", "+3", "x²", "H₂O", "10%", "$9.99", "€5"]
EMOJI = ["😀", "🐱", "🚀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇯🇵", "🇺🇸", "✨", "🔥🔥🔥", "☕", "🧑🏿‍🚀",
         "🫠", "\U0001FAE8", "1️⃣", "#️⃣", "©", "™"]
PUNCT = [".", ",", "!", "?", "!!!", "?!", "...", "…", ";", ":", "-", "--", "—", "–", "(", ")", "[", "]", "{", "}",
         "\"", "'", "’", "‘", "“", "”", "«", "»", "/", "\\", "|", "@", "#", "$", "%", "^", "&", "*", "_", "+", "=",
         "~", "`", "<", ">", "<|", "|>", "¿", "¡", "§", "¶", "•", "·", "°", "±", "×", "÷", "→", "∞", "≠", "√", "∑",
         "♪", "★", "▲", "■", "⟨⟩", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "’s", "'S", "'LL", "''s"]
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2002", "\u2003", "\u2009", "\u200a", "\u202f", "\u205f",
              "\u3000", "\u1680", "\u2028", "\u2029", "\u0085", "\u000b", "\u000c", "\u180e", "\u200b", "\ufeff",
              "\u200d", "\u2060"]
CONTROL = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x9f", "\u200e", "\u202e", "\ufffd", "\ue000", "\U000f0000",
           "\ufdd0", "\uffff", "\U0010ffff"]
SPECIAL = ["<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>", "<|EndOfText|>", "<| endoftext |>",
           "<|endoftext|><|endoftext|>", "x<|endoftext|>!", "!<|endoftext|>", "<|startoftext|>hello",
           "<|endoftext", "endoftext|>", "<|startoftext|>'s"]
POOLS = [WORDS, WORDS, WORDS, ACCENTED, CJK, OTHER_SCRIPTS, NUMBERS, EMOJI, PUNCT, WHITESPACE, CONTROL, SPECIAL]


def random_code_point(rng):
    while True:
        cp = rng.choice([rng.randrange(0x20, 0x250), rng.randrange(0x250, 0x3000), rng.randrange(0x3000, 0x10000),
                         rng.randrange(0x10000, 0x110000)])
        if not 0xD800 <= cp < 0xE000:
            return chr(cp)


def random_string(rng):
    kind = rng.random()
    if kind < 0.1:
        return "".join(random_code_point(rng) for _ in range(rng.randrange(1, 12)))
    parts = []
    for _ in range(rng.randrange(1, 120 if kind > 0.9 else 16)):
        piece = rng.choice(rng.choice(POOLS))
        if rng.random() < 0.1:
            piece = piece.upper() if rng.random() < 0.5 else piece.title()
        if rng.random() < 0.08:
            piece += rng.choice(COMBINING) * rng.randrange(1, 4)
        parts.append(piece)
        if rng.random() < 0.7:
            parts.append(rng.choice([" ", " ", " ", ", ", "", rng.choice(WHITESPACE)]))
    return "".join(parts)


def code_point_probe(cp):
    """The string the per-code-point check tokenizes: the character after a letter, next to itself and
    before a combining mark (its class, its lowercase, NFC around it)."""
    c = chr(cp)
    return "a" + c + c + "\u0334"


def fixed_strings():
    return ["", " ", "a photo of a cat", "A Photo Of A Cat", "<|endoftext|>", "<|startoftext|>", "İ", "i̇", "İstanbul",
            "it's", "it’s", "IT'S", "don't", "٣", "½", "²", "x\u00a0y", "tab\there", "new\nline", "word " * 100,
            "😀" * 40, "!" * 100, "a!b", "hello!", "ΟΔΟΣ", "ς", "ﬁ", "\u1e9e", "e\u0301", "\u00e9", "\u0065\u0327\u0301",
            "\u1100\u1161\u11a8", "\ufb01ne", "K"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tokenizer_dir")
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()

    tok = CLIPTokenizer.from_pretrained(args.tokenizer_dir)
    rng = random.Random(args.seed)
    strings = fixed_strings()
    while len(strings) < args.count:
        strings.append(random_string(rng))
    ids = tok(strings, padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids
    # The pipeline's own call, one prompt as a tensor, agrees with the batch.
    for s, row in zip(strings[:50], ids[:50]):
        one = tok(s, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        assert one.input_ids[0].tolist() == row, s
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with open(args.out_dir / "prompts.json", "w", encoding="utf-8") as f:
        json.dump({"strings": strings, "input_ids": ids}, f, ensure_ascii=False)

    probes = [code_point_probe(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    with open(args.out_dir / "code_points.txt", "w", encoding="utf-8") as f:
        for start in range(0, len(probes), 65536):
            rows = tok(probes[start : start + 65536]).input_ids
            f.write("".join(" ".join(f"{i:x}" for i in row[1:-1]) + "\n" for row in rows))


if __name__ == "__main__":
    main()
