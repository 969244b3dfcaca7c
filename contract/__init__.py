"""What corpus/ and train/ must agree on, in one torch-free place.

The tokenizer contract (special tokens, the one encode, the shard manifest), JSONL reading
and atomic writes, and the one settings model (how a pipeline file and `--set` are read and
checked). Both sides import this package; it imports neither of them, nor torch.
"""
