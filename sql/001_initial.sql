-- loadwatch trend store, version 1. One row per run in `runs`; everything else hangs off run_id and is
-- replaced as a whole when a run is stored again (idempotent writes keyed by run_id).

CREATE TABLE runs (
    run_id          text PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    status          text NOT NULL CHECK (status IN ('completed', 'failed_preflight', 'aborted', 'failed')),
    verdict         text,
    trigger         text NOT NULL DEFAULT 'cli',
    flow_run_id     text,
    plan_name       text,
    plan_hash       text,
    plan            jsonb,
    env_hash        text,
    environment     jsonb,
    target_url      text,
    target_version  text,
    excluded        boolean NOT NULL DEFAULT false,
    exclude_reason  text,
    notes           text,
    tags            text[] NOT NULL DEFAULT '{}',
    summary         jsonb NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
-- The series of comparable runs: same plan and environment, in time order.
CREATE INDEX runs_series_idx ON runs (plan_hash, env_hash, started_at DESC);
CREATE INDEX runs_started_idx ON runs (started_at DESC);

CREATE TABLE run_scenarios (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    scenario  text NOT NULL,
    method    text,
    path      text,
    weight    double precision,
    requests  bigint NOT NULL DEFAULT 0,
    errors    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, scenario)
);

-- One value per run x scenario x metric; scenario '*' is the whole run.
CREATE TABLE measurements (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    scenario  text NOT NULL,
    metric    text NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (run_id, scenario, metric)
);
CREATE INDEX measurements_series_idx ON measurements (scenario, metric);

-- Encoded HdrHistograms (base64 of hdrh encode(), microseconds): totals per scenario...
CREATE TABLE histograms (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    scenario  text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('latency', 'service')),
    encoded   text NOT NULL,
    PRIMARY KEY (run_id, scenario, kind)
);
-- ...and per one-second window (thinned by retention, totals are kept).
CREATE TABLE histogram_windows (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    t         timestamptz NOT NULL,
    scenario  text NOT NULL,
    requests  bigint NOT NULL,
    errors    bigint NOT NULL,
    warmup    boolean NOT NULL DEFAULT false,
    encoded   text,
    PRIMARY KEY (run_id, scenario, t)
);

CREATE TABLE timeline (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    t         timestamptz NOT NULL,
    requests  bigint NOT NULL,
    errors    bigint NOT NULL,
    rps       double precision,
    p50_ms    double precision,
    p95_ms    double precision,
    p99_ms    double precision,
    max_ms    double precision,
    warmup    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, t)
);

CREATE TABLE resource_samples (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    t         timestamptz NOT NULL,
    grp       text NOT NULL,
    cpu_percent double precision,
    rss_mb    double precision,
    data      jsonb NOT NULL,
    PRIMARY KEY (run_id, grp, t)
);

CREATE TABLE thresholds (
    run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    expr      text NOT NULL,
    scenario  text NOT NULL,
    metric    text NOT NULL,
    value     double precision,
    limit_value double precision,
    passed    boolean NOT NULL,
    PRIMARY KEY (run_id, expr)
);

-- The same-night gate's outcome per scenario x metric, with its evidence.
CREATE TABLE verdicts (
    run_id          text NOT NULL REFERENCES runs ON DELETE CASCADE,
    scenario        text NOT NULL,
    metric          text NOT NULL,
    outcome         text NOT NULL,
    value           double precision,
    baseline        double precision,
    change_percent  double precision,
    ci_low          double precision,
    ci_high         double precision,
    robust_z        double precision,
    evidence        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, scenario, metric)
);
CREATE INDEX verdicts_outcome_idx ON verdicts (outcome) WHERE outcome IN ('regression', 'suspect');

-- Change points over history, keyed by the first run after the change; triage state is a human decision.
CREATE TABLE change_points (
    id              bigserial PRIMARY KEY,
    run_id          text NOT NULL REFERENCES runs ON DELETE CASCADE,
    scenario        text NOT NULL,
    metric          text NOT NULL,
    plan_hash       text,
    env_hash        text,
    detected_by     text,
    detected_at     timestamptz NOT NULL DEFAULT now(),
    forward_change_percent double precision,
    p_value         double precision,
    mean_before     double precision,
    mean_after      double precision,
    direction       text,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'confirmed', 'dismissed', 'expected')),
    triage_note     text,
    triaged_at      timestamptz,
    evidence        jsonb NOT NULL DEFAULT '{}',
    UNIQUE (run_id, scenario, metric)
);
CREATE INDEX change_points_series_idx ON change_points (plan_hash, env_hash, state);
