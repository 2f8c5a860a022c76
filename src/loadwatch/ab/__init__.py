"""Two builds, one session: `loadwatch ab` (interleaved A/B rounds judged pair by pair) and `loadwatch bisect`.

builds.py starts and checks the builds, session.py runs the rounds and the stopping rule over the paired statistics
(loadwatch.stats.paired), render.py writes the result as JSON, Markdown and HTML."""
