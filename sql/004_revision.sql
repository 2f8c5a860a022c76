-- Commit-aware history (issue 25 item 3): the commit and branch of the target each run measured, beside its
-- version (001's target_version), so the trend review can filter by branch and compare it with main's baseline.

ALTER TABLE runs ADD COLUMN target_commit text;
ALTER TABLE runs ADD COLUMN target_branch text;
CREATE INDEX runs_branch_idx ON runs (target_branch, started_at DESC);

-- The nightly A/B stage's rows (issue 25 item 2, loadwatch.pipeline.ab_stage): the candidate against the baseline,
-- measured the same night in alternating rounds; `same_night` marks them apart from the gate's rows against earlier
-- nights, so the trend review can list them with the night that ran them.
CREATE TABLE ab_rows (
    run_id          text NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    scenario        text NOT NULL,
    percentile      text NOT NULL,
    verdict         text NOT NULL,
    reason          text NOT NULL,
    pairs           integer NOT NULL,
    change_percent  double precision,
    ci_low_percent  double precision,
    ci_high_percent double precision,
    baseline        text NOT NULL,
    candidate       text NOT NULL,
    same_night      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (run_id, scenario, percentile)
);
