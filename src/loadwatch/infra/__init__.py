"""Infrastructure the stages run on, kept apart from them: child processes and signal handling. (The embedded
Postgres lives with the store, loadwatch.store.embedded; Prefect's temporary API server with the Prefect adapter,
loadwatch.prefect_adapter.ephemeral.)"""
