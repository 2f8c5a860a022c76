"""The nightly pipeline's stages, one module each, in the order they run:

preflight → targets (open the system under test) → capture (baseline: environment, counters, history, probe)
→ load (loadwatch.engine) ∥ monitor → capacity (optional) → compare (with attribution and measures) → store
(loadwatch.store) → prometheus (publish) → report. `record` is the run record every stage after the load reads;
`review` is the same comparison over the stored history (`loadwatch report`).

`chain.run_chain` runs them in that order given one runner per stage (`chain.Stages`): the Prefect tasks of
tasks (the flow), or the plain calls and threads of `plain`. `load` is the load stage and the monitor
beside it (and the capacity search), `save` the store stage with its spool."""
