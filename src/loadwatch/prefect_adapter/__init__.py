"""The Prefect adapter: every piece of the core that talks to Prefect, in one package (the layer test allows
Prefect here, in flows/ and in tasks/, nowhere else).

- `environment`: Prefect's settings for a loadwatch process (analytics off, a quiet console), set before Prefect
  is imported.
- `ephemeral`: Prefect's temporary API server for `loadwatch run`, started before Prefect is imported.
- `once`: `loadwatch run`'s flow run, in this process.
- `deployments`: `loadwatch serve`, `loadwatch server`, `loadwatch deploy`.
- `notifications`: the Prefect notification-block sender of `loadwatch.notify`.
- `steps`: the pull step of deploy/prefect.yaml that finds the checkout a worker runs from.

Nothing is imported here: each caller imports the module it needs (Prefect costs a second to import, and a pull
step runs before the flow run has a working directory)."""
