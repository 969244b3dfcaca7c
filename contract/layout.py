"""Names inside a stage folder that are not data.

A stage folder holds its data parts (``part-*.parquet``) where Parquet readers look; the
manifest, the rejected documents and any index are named with a leading ``_`` (or ``.``)
so that pyarrow.dataset, pandas, DuckDB and HF ``datasets`` skip them and a user can read
the folder whole (``pd.read_parquet("out/sample/dedup")``).
"""
MANIFEST = "_manifest.json"
REJECTED = "_rejected"
#: dedup's band index, reused by later runs to dedup new crawls against this one
DEDUP_INDEX = "_index"
#: names older releases wrote; still the project's own, so a rerun clears them
LEGACY = ("manifest.json", "rejected/part-*.parquet")
