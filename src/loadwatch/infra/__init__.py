"""Infrastructure the stages run on, kept apart from them: child processes, signal handling, and the embedded
PostgreSQL server that the store and the demo service both use (postgres.py): below both, so that neither imports the
other. (Prefect's temporary API server is the Prefect adapter's: loadwatch.prefect_adapter.ephemeral.)"""
