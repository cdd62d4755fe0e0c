"""Adapters to other libraries (optional extras): scikit-learn kernels, Dask Gram matrices."""
