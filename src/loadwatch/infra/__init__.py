"""Infrastructure the stages run on, kept apart from them: child processes, Prefect's temporary API server, and
signal handling, and the embedded PostgreSQL server that the store and the demo service both use (postgres.py):
below both, so that neither imports the other."""
