"""Regression detection as pure functions: the same-night gate (gate.py), change points over history (edivisive.py,
history.py), thresholds (thresholds.py), the seed's score (score.py), the data they share (model.py). The method,
every rule and default with its source: docs/METHOD.md.

Nothing is re-exported here: import the module a name lives in. The gate and the change-point detector pull in
numpy and scipy, which importing the plan (config imports thresholds) or the data model must not pay for."""
