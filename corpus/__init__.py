"""crawl2tokens data toolkit: raw web crawls in, training-ready token shards out."""

__version__ = "0.1.0"
