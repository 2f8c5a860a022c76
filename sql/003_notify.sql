-- Notifications on change (loadwatch.notify): what was told per plan, so a night speaks only when something changed,
-- and every message tried, delivered or not (an undelivered one stays in the state's `pending` and is sent again).

CREATE TABLE notify_state (
    plan_name   text PRIMARY KEY,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    plan_name   text NOT NULL,
    run_id      text,
    channel     text NOT NULL,      -- loadwatch.notify.channels.key: the service and a digest, never a token
    kinds       text[] NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    delivered   boolean NOT NULL,
    error       text,
    sent_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_plan_idx ON notifications (plan_name, sent_at DESC);
