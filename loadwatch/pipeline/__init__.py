"""The nightly pipeline's stages, one module each, in the order they run:

preflight → targets (open the system under test) → capture (baseline: environment, counters, history, probe)
→ load (loadwatch.engine) ∥ monitor → capacity (optional) → compare (with attribution and measures) → store
(loadwatch.store) → prometheus (publish) → report. `record` is the run record every stage after the load reads;
`review` is the same comparison over the stored history (`loadwatch report`)."""
