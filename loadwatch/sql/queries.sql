-- Named trend queries (loaded by loadwatch.store.queries; `-- name: X` starts a query, :param binds).

-- name: comparable_runs
-- The newest comparable runs (same plan and environment) before a time, newest first.
-- Inconclusive runs (generator-bound: their latencies describe the generator) are never a baseline.
SELECT run_id, started_at, excluded, verdict, status, summary->'probe' AS probe
FROM runs
WHERE plan_hash = :plan_hash AND env_hash = :env_hash AND started_at < :before
  AND status = 'completed' AND verdict IS DISTINCT FROM 'inconclusive'
  AND started_at >= COALESCE(:since, '-infinity'::timestamptz)
ORDER BY started_at DESC
LIMIT :limit;

-- name: last_expected_change
-- The run where the baseline restarts: the newest change point a person marked `expected`.
SELECT r.started_at
FROM change_points c JOIN runs r USING (run_id)
WHERE c.plan_hash = :plan_hash AND c.env_hash = :env_hash AND c.state = 'expected'
ORDER BY r.started_at DESC
LIMIT 1;

-- name: series_measurements
-- All measurements of a set of runs.
SELECT run_id, scenario, metric, value FROM measurements WHERE run_id = ANY(:run_ids);

-- name: series_histograms
SELECT run_id, scenario, encoded FROM histograms WHERE run_id = ANY(:run_ids) AND kind = 'latency';

-- name: recent_runs
-- The last N completed runs of one plan (any environment), newest first.
SELECT run_id, started_at, verdict, plan_hash, env_hash, excluded, summary->'probe' AS probe
FROM runs
WHERE status = 'completed' AND verdict IS DISTINCT FROM 'inconclusive'
  AND (CAST(:plan_hash AS text) IS NULL OR plan_hash = :plan_hash)
ORDER BY started_at DESC
LIMIT :limit;

-- name: thin_windows
-- Retention: drop per-second data of runs older than a cut-off; totals stay.
DELETE FROM histogram_windows WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < :before);
