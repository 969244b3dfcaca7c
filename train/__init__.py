"""crawl2tokens model side: pretraining, SFT and RL on the corpus's token shards.

Imports only torch, numpy, pyarrow and sentencepiece, so it runs on a GPU box that
has just those (PyYAML is used for pipeline files when present; JSON works without).
"""

__version__ = "0.1.0"
