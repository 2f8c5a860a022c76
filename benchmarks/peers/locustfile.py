"""Locust peer for benchmarks/throughput.py: FastHttpUser, no wait, one URL (run in /work/locust-venv)."""

from locust import FastHttpUser, constant, task


class Hit(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/data.json")
