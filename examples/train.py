"""Fine-tune a sentiment classifier (the demo project mlgate scans; it is never run by mlgate)."""

from __future__ import annotations

from transformers import AutoModelForSequenceClassification, AutoTokenizer

BASE_MODEL = "acme-research/sentiment-base"
TOKENIZER_REVISION = "4f2b6a1c9d3e8f7a0b5c2d1e6f9a8b7c3d4e5f60"


def load() -> tuple[object, object]:
    tokenizer = AutoTokenizer.from_pretrained(BASE_MODEL, revision=TOKENIZER_REVISION)
    # Not pinned to a revision: whatever the hub serves today is what gets loaded.
    model = AutoModelForSequenceClassification.from_pretrained(BASE_MODEL, num_labels=2)
    return tokenizer, model


if __name__ == "__main__":
    load()
