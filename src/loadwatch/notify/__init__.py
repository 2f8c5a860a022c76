"""Being told: notifications on change, not on every night (docs/deploy.md, "Being told").

`events` decides what is worth saying from a night and what was said before (pure); `message` words it; `channels`
delivers it through Apprise URLs or Prefect notification blocks; `stage` ties them to the trend store, where the
state of what was sent per plan lives, after every night and from the missed-night watchdog."""
