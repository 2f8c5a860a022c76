"""Infrastructure the stages run on, kept apart from them: child processes, Prefect's temporary API server, and
signal handling. (The embedded Postgres lives with the store: loadwatch.store.embedded.)"""
