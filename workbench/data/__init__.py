"""Data: the contract, the calendar, connecting, loading with validation, and the simulated chain."""
