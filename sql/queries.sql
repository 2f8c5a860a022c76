-- Named trend-store statements (loaded by loadwatch.store.repo.query; `-- name: X` starts one, :param binds).
-- save_run builds only its per-table child inserts and deletes in repo.py, from the table and column names.

-- name: comparable_runs
-- The newest comparable runs (same plan and environment) before a time, newest first.
-- Inconclusive runs (generator-bound: their latencies describe the generator) are never a baseline.
SELECT run_id, started_at, excluded, verdict, status, summary->'probe' AS probe, target_version, target_commit,
    target_branch
FROM runs
WHERE plan_hash = :plan_hash AND env_hash = :env_hash AND started_at < :before
  AND status = 'completed' AND verdict IS DISTINCT FROM 'inconclusive'
  AND (CAST(:branch AS text) IS NULL OR target_branch = :branch)
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
-- The last N completed runs of one plan (any environment) and, when given, one branch, newest first.
SELECT run_id, started_at, verdict, plan_hash, env_hash, excluded, summary->'probe' AS probe, target_version,
    target_commit, target_branch
FROM runs
WHERE status = 'completed' AND verdict IS DISTINCT FROM 'inconclusive'
  AND (CAST(:plan_hash AS text) IS NULL OR plan_hash = :plan_hash)
  AND (CAST(:branch AS text) IS NULL OR target_branch = :branch)
ORDER BY started_at DESC
LIMIT :limit;

-- name: thin_windows
-- Retention: drop per-second data of runs older than a cut-off; totals stay.
DELETE FROM histogram_windows WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < :before);

-- name: upsert_run
-- One run's row; storing the same run id again replaces it (stored_at says when).
INSERT INTO runs (run_id, started_at, finished_at, status, verdict, trigger, flow_run_id, plan_name,
    plan_hash, plan, env_hash, environment, target_url, target_version, target_commit, target_branch, notes, tags,
    summary)
VALUES (:run_id, :started_at, :finished_at, :status, :verdict, :trigger, :flow_run_id, :plan_name,
    :plan_hash, CAST(:plan AS jsonb), :env_hash, CAST(:environment AS jsonb), :target_url,
    :target_version, :target_commit, :target_branch, :notes, :tags, CAST(:summary AS jsonb))
ON CONFLICT (run_id) DO UPDATE SET
    finished_at = EXCLUDED.finished_at, status = EXCLUDED.status, verdict = EXCLUDED.verdict,
    trigger = EXCLUDED.trigger, flow_run_id = EXCLUDED.flow_run_id, plan = EXCLUDED.plan,
    environment = EXCLUDED.environment, notes = EXCLUDED.notes, tags = EXCLUDED.tags,
    target_version = EXCLUDED.target_version, target_commit = EXCLUDED.target_commit,
    target_branch = EXCLUDED.target_branch, summary = EXCLUDED.summary, stored_at = now();

-- name: insert_resource_samples
INSERT INTO resource_samples (run_id, t, grp, cpu_percent, rss_mb, data)
VALUES (:run_id, :t, :grp, :cpu_percent, :rss_mb, CAST(:data AS jsonb));

-- name: insert_verdicts
INSERT INTO verdicts (run_id, scenario, metric, outcome, value, baseline, change_percent,
    ci_low, ci_high, robust_z, evidence)
VALUES (:run_id, :scenario, :metric, :outcome, :value, :baseline, :change_percent,
    :ci_low, :ci_high, :robust_z, CAST(:evidence AS jsonb));

-- name: upsert_change_point
-- A change point found by run :detected_by at run :run_id (skipped when that run is not stored).
-- A person's decision is never overwritten; pending may become confirmed.
INSERT INTO change_points (run_id, scenario, metric, plan_hash, env_hash, detected_by,
    forward_change_percent, p_value, mean_before, mean_after, direction, state, evidence)
SELECT :run_id, :scenario, :metric, :plan_hash, :env_hash, :detected_by, :fcp, :p, :mb, :ma,
    :direction, :state, CAST(:evidence AS jsonb)
WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = :run_id)
ON CONFLICT (run_id, scenario, metric) DO UPDATE SET
    forward_change_percent = EXCLUDED.forward_change_percent, p_value = EXCLUDED.p_value,
    mean_before = EXCLUDED.mean_before, mean_after = EXCLUDED.mean_after,
    evidence = EXCLUDED.evidence, detected_by = EXCLUDED.detected_by,
    state = CASE WHEN change_points.state = 'pending' THEN EXCLUDED.state ELSE change_points.state END;

-- name: run_exists
SELECT 1 FROM runs WHERE run_id = :r;

-- name: run_summary
SELECT summary FROM runs WHERE run_id = :r;

-- name: run_key
-- What makes a run comparable.
SELECT plan_hash, env_hash, started_at FROM runs WHERE run_id = :r;

-- name: runs_by_id
SELECT run_id, started_at, excluded, verdict, status, summary->'probe' AS probe, target_version, target_commit,
    target_branch
FROM runs
WHERE run_id = ANY(:ids)
ORDER BY started_at DESC;

-- name: run_timeline
SELECT t, requests, errors, rps, p50_ms, p95_ms, p99_ms, max_ms, warmup FROM timeline WHERE run_id = :r ORDER BY t;

-- name: run_resource_samples
SELECT t, grp, cpu_percent, rss_mb FROM resource_samples WHERE run_id = :r ORDER BY t;

-- name: run_histograms
SELECT scenario, kind, encoded FROM histograms WHERE run_id = :r;

-- name: change_points_of_runs
SELECT c.id, c.run_id, c.scenario, c.metric, c.forward_change_percent, c.p_value, c.state,
    c.direction, c.mean_before, c.mean_after, r.started_at
FROM change_points c JOIN runs r USING (run_id)
WHERE c.run_id = ANY(:ids)
ORDER BY r.started_at, c.scenario, c.metric;

-- name: triage_change_point
UPDATE change_points SET state = :s, triage_note = :n, triaged_at = now() WHERE id = :i
RETURNING id, run_id, scenario, metric, state;

-- name: exclude_run
UPDATE runs SET excluded = true, exclude_reason = :why WHERE run_id = :r;

-- name: series_changes
-- Every change of one series of runs (plan and environment), oldest first, with the nights that saw it.
SELECT c.change_id, c.scenario, c.metric, c.source, c.status, c.first_run_id, c.first_seen_at, c.baseline,
    c.level, c.change_percent, c.unit, c.ci_low, c.ci_high, c.version_before, c.version_after,
    c.triage_decision, c.triaged_by, c.triaged_at, c.triage_note,
    (SELECT count(*) FROM change_nights n WHERE n.change_id = c.change_id) AS nights
FROM changes c
WHERE c.plan_hash = :plan_hash AND c.env_hash = :env_hash
ORDER BY c.first_seen_at, c.scenario, c.metric;

-- name: held_nights
-- The nights kept out of the baseline: held by a change nobody accepted or dismissed (open, confirmed, recovered).
SELECT n.run_id, c.scenario, c.metric
FROM change_nights n JOIN changes c USING (change_id)
WHERE c.plan_hash = :plan_hash AND c.env_hash = :env_hash AND n.held
  AND c.status IN ('open', 'confirmed', 'recovered');

-- name: upsert_change
-- A change as a night sees it. A person's decision is never overwritten by a night: the night may only move an
-- undecided (open) or confirmed change to recovered.
INSERT INTO changes (change_id, plan_hash, env_hash, scenario, metric, source, first_run_id, first_seen_at,
    baseline, level, change_percent, unit, ci_low, ci_high, version_before, version_after, status)
SELECT :change_id, :plan_hash, :env_hash, :scenario, :metric, :source, :first_run_id, :first_seen_at,
    :baseline, :level, :change_percent, :unit, :ci_low, :ci_high, :version_before, :version_after, :status
WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = :first_run_id)
ON CONFLICT (change_id) DO UPDATE SET
    status = CASE WHEN changes.status IN ('open', 'confirmed') AND EXCLUDED.status = 'recovered'
                  THEN 'recovered' ELSE changes.status END,
    updated_at = now();

-- name: insert_change_night
INSERT INTO change_nights (change_id, run_id, value, held)
SELECT :change_id, :run_id, :value, :held
WHERE EXISTS (SELECT 1 FROM changes WHERE change_id = :change_id)
ON CONFLICT (change_id, run_id) DO UPDATE SET value = EXCLUDED.value, held = EXCLUDED.held;

-- name: triage_change
UPDATE changes SET status = :s, triage_decision = :s, triaged_by = :by, triaged_at = now(), triage_note = :n,
    updated_at = now()
WHERE change_id = :i
RETURNING change_id, scenario, metric, first_run_id, status, triaged_by, triaged_at, triage_note;

-- name: recent_changes
-- The changes of the last runs' series (the trend review), newest first.
SELECT c.change_id, c.scenario, c.metric, c.source, c.status, c.first_run_id, c.first_seen_at, c.baseline,
    c.level, c.change_percent, c.unit, c.ci_low, c.ci_high, c.version_before, c.version_after,
    c.triage_decision, c.triaged_by, c.triaged_at, c.triage_note,
    (SELECT count(*) FROM change_nights n WHERE n.change_id = c.change_id) AS nights
FROM changes c
WHERE CAST(:plan_hash AS text) IS NULL OR c.plan_hash = :plan_hash
ORDER BY c.first_seen_at DESC
LIMIT :limit;

-- name: delete_change_nights
-- Storing a run again replaces its nights of changes.
DELETE FROM change_nights WHERE run_id = :r;

-- name: notify_state
-- What was told for one plan (loadwatch.notify.events.NotifyState), locked until the transaction ends so two
-- runs of one plan never tell the same thing twice.
SELECT state FROM notify_state WHERE plan_name = :plan FOR UPDATE;

-- name: save_notify_state
INSERT INTO notify_state (plan_name, state) VALUES (:plan, CAST(:state AS jsonb))
ON CONFLICT (plan_name) DO UPDATE SET state = EXCLUDED.state, updated_at = now();

-- name: log_notification
INSERT INTO notifications (plan_name, run_id, channel, kinds, title, body, delivered, error)
VALUES (:plan, :run_id, :channel, :kinds, :title, :body, :delivered, :error);

-- name: last_completed_run
-- The newest completed run of a plan (any verdict: it ran), for the missed-night check.
SELECT run_id, started_at FROM runs
WHERE plan_name = :plan AND status = 'completed' AND started_at < COALESCE(:before, 'infinity'::timestamptz)
ORDER BY started_at DESC
LIMIT 1;

-- name: notified_plans
-- Plans that have a notification state: the watchdog's default set.
SELECT plan_name FROM notify_state ORDER BY plan_name;
