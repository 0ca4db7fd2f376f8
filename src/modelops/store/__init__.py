"""Where things are kept: the simulation cache, run records (Parquet, manifests), central stores, object stores."""
