"""Document filters of the filter stage: language id, URL blocklists, Gopher, C4 and
FineWeb heuristics, a fastText quality classifier, PII masking. Each module holds one
family; :mod:`corpus.stages.filter.stage` chains them over Parquet parts."""
