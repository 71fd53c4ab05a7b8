"""Data: the HDF5 store, the synthetic generator, windows, samplers and data modules."""
