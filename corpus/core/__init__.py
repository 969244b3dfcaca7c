"""What every stage runs on: the runner and its executors, the stage registry, the
settings schema and pipeline loading, manifests, Parquet parts and the output folder."""
