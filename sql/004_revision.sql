-- Commit-aware history (issue 25 item 3): the commit and branch of the target each run measured, beside its
-- version (001's target_version), so the trend review can filter by branch and compare it with main's baseline.

ALTER TABLE runs ADD COLUMN target_commit text;
ALTER TABLE runs ADD COLUMN target_branch text;
CREATE INDEX runs_branch_idx ON runs (target_branch, started_at DESC);
