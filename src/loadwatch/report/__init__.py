"""Output: the report's view of a run, its charts, the Prometheus export and the trend review over stored runs."""
