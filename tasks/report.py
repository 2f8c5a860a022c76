"""Report task: files in the output directory, and the Markdown + a per-scenario table as Prefect
artifacts under fixed keys, so the UI keeps their history night after night."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from loadwatch.record import ReportInput
from loadwatch.report.render import render_markdown, write_report
from loadwatch.report.view import scenario_table

__all__ = ["ARTIFACT_REPORT_KEY", "ARTIFACT_TABLE_KEY", "report_task"]

ARTIFACT_REPORT_KEY = "loadwatch-report"
ARTIFACT_TABLE_KEY = "loadwatch-scenarios"


@task(name="report", cache_policy=NO_CACHE, retries=1)
def report_task(data: ReportInput, out_dir: Path) -> dict[str, str]:
    log = get_run_logger()
    paths = write_report(data, out_dir)  # report.html, report.md and summary.json (the report input's summary)
    run_id = data["summary"]["run_id"]
    try:
        create_markdown_artifact(
            key=ARTIFACT_REPORT_KEY,
            markdown=paths["md"].read_text() if "md" in paths else render_markdown(data),
            description=f"loadwatch run {run_id}",
        )
        rows = scenario_table(data)
        if rows:
            create_table_artifact(key=ARTIFACT_TABLE_KEY, table=rows, description=f"loadwatch run {run_id}")
    except Exception as exc:  # artifacts are a convenience; the files are the report
        log.warning("could not publish Prefect artifacts: %s", exc)
    log.info("report written to %s", out_dir)
    return {k: str(v) for k, v in paths.items()}
