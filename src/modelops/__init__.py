"""ModelOps: run simulation-based calibration at scale, locally on Dask or on Kubernetes."""

__version__ = "0.1.0"
