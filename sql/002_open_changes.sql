-- Open changes (docs/METHOD.md, "Open changes"): a regression that stays visible until a person triages it.
-- One row per change, keyed by a short id derived from the run that opened it, its scenario and metric; the nights
-- that saw it in change_nights (held = tonight's value belongs to the change and is kept out of the baseline).

CREATE TABLE changes (
    change_id       text PRIMARY KEY,
    plan_hash       text,
    env_hash        text,
    scenario        text NOT NULL,
    metric          text NOT NULL,
    source          text NOT NULL DEFAULT 'gate' CHECK (source IN ('gate', 'change_point')),
    first_run_id    text NOT NULL REFERENCES runs ON DELETE CASCADE,
    first_seen_at   timestamptz NOT NULL,
    baseline        double precision,
    level           double precision,
    change_percent  double precision,
    unit            text NOT NULL DEFAULT 'percent',
    ci_low          double precision,
    ci_high         double precision,
    version_before  text,
    version_after   text,
    status          text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'confirmed', 'expected', 'dismissed', 'recovered')),
    triage_decision text CHECK (triage_decision IN ('expected', 'dismissed', 'confirmed')),
    triaged_by      text,
    triaged_at      timestamptz,
    triage_note     text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changes_series_idx ON changes (plan_hash, env_hash, status);

CREATE TABLE change_nights (
    change_id  text NOT NULL REFERENCES changes ON DELETE CASCADE,
    run_id     text NOT NULL REFERENCES runs ON DELETE CASCADE,
    value      double precision,
    held       boolean NOT NULL,
    PRIMARY KEY (change_id, run_id)
);
CREATE INDEX change_nights_run_idx ON change_nights (run_id);
