"""Names inside a stage folder that are not data.

A stage folder holds its data parts (``part-*.parquet``) where Parquet readers look, and a
user can read the folder whole (``pd.read_parquet("out/sample/dedup")``,
``load_dataset("parquet", data_dir=...)``). The readers skip different names: pyarrow (and
pandas, Polars) skip files and folders starting with ``_`` or ``.``; HF ``datasets`` skips
files and folders starting with ``.`` and folders starting with ``__``, but reads a file named
``_x`` as data. So the manifest starts with ``.`` and the metadata folders with ``__``.
"""
MANIFEST = ".manifest.json"
REJECTED = "__rejected"
#: dedup's band index, reused by later runs to dedup new crawls against this one
DEDUP_INDEX = "__index"
#: names older releases wrote; still the project's own, so a rerun clears them
LEGACY = ("manifest.json", "rejected/part-*.parquet", "_manifest.json", "_rejected/part-*.parquet")
#: dedup index folders of older releases (read and cleared like DEDUP_INDEX)
LEGACY_DEDUP_INDEX = ("_index", "index")
