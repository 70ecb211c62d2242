"""Demand distributions shared by forecasting and optimization (pure numpy/numba)."""
