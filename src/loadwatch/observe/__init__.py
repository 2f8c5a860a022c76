"""Observation of the target, its database, the machine and the generator: resource sampling (monitor), process
discovery, counters before and after the load, the machine-drift probe and the busy-machine check."""
