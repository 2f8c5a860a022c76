"""A deterministic generator of a few hundred realistic tools, several versions each.

The same seed always yields the same rows (ids included), so every machine serves the same catalogue and
seeding is idempotent. Names are built from the plan's search terms (net, disk, log, ...) so searches hit."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["CATEGORIES", "PLATFORMS", "STATUSES", "Capability", "ToolRow", "generate"]

PLATFORMS = ("linux", "windows", "macos", "docker", "kubernetes", "cloud")
CATEGORIES = ("system", "network", "security", "monitoring", "development", "database", "storage", "utility")
STATUSES = ("active", "deprecated", "disabled", "testing", "draft")

_STEMS = {
    "net": "network",
    "disk": "storage",
    "log": "monitoring",
    "scan": "security",
    "git": "development",
    "proc": "system",
    "http": "network",
    "dns": "network",
    "mem": "system",
    "sys": "system",
    "cpu": "system",
    "port": "network",
    "file": "storage",
    "trace": "monitoring",
    "pkg": "development",
    "cert": "security",
    "user": "security",
    "cron": "utility",
    "kube": "system",
    "cache": "database",
    "queue": "database",
    "backup": "storage",
    "audit": "security",
    "vault": "security",
    "packet": "network",
    "mail": "utility",
    "ssh": "network",
    "tls": "security",
    "sql": "database",
    "metric": "monitoring",
}
_SUFFIXES = (
    "stat",
    "top",
    "watch",
    "dump",
    "check",
    "ctl",
    "mon",
    "probe",
    "sync",
    "view",
    "lint",
    "diag",
    "guard",
    "fmt",
    "grep",
    "bench",
    "util",
    "agent",
    "scope",
    "keeper",
)
_VERBS = {
    "stat": "Reports statistics for",
    "top": "Shows a live, sorted view of",
    "watch": "Watches for changes in",
    "dump": "Dumps the raw state of",
    "check": "Runs health checks against",
    "ctl": "Controls and configures",
    "mon": "Continuously monitors",
    "probe": "Probes and fingerprints",
    "sync": "Synchronises",
    "view": "Browses and inspects",
    "lint": "Validates the configuration of",
    "diag": "Diagnoses problems with",
    "guard": "Enforces policies on",
    "fmt": "Formats and normalises",
    "grep": "Searches through",
    "bench": "Benchmarks",
    "util": "Provides helpers for",
    "agent": "Runs an agent that collects",
    "scope": "Traces and profiles",
    "keeper": "Rotates and retains",
}
_SUBJECTS = {
    "net": "network interfaces",
    "disk": "block devices and filesystems",
    "log": "log files and journals",
    "scan": "hosts and open services",
    "git": "git repositories",
    "proc": "running processes",
    "http": "HTTP endpoints",
    "dns": "DNS zones and resolvers",
    "mem": "memory usage",
    "sys": "the kernel",
    "cpu": "CPU scheduling",
    "port": "listening ports",
    "file": "files and directories",
    "trace": "distributed traces",
    "pkg": "software packages",
    "cert": "TLS certificates",
    "user": "user accounts",
    "cron": "scheduled jobs",
    "kube": "Kubernetes workloads",
    "cache": "cache servers",
    "queue": "message queues",
    "backup": "backup archives",
    "audit": "audit trails",
    "vault": "secrets",
    "packet": "captured packets",
    "mail": "mail queues",
    "ssh": "SSH sessions",
    "tls": "TLS handshakes",
    "sql": "SQL databases",
    "metric": "time-series metrics",
}
_CAPABILITIES = ("read", "write", "stream", "export", "alert", "schedule", "remote", "json-output", "dry-run")
_AUTHORS = ("alice", "bob", "carol", "dmitri", "erin", "farah", "gustavo", "hana", "seed-importer")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Capability:
    tool_id: int
    name: str
    description: str


@dataclass(frozen=True)
class ToolRow:
    id: int
    tool_name: str
    version: str
    description: str
    platform: str
    category: str
    status: str
    enabled: bool
    defaults: dict[str, Any]
    dependencies: list[str]
    metadata: dict[str, Any]
    parent_version_id: int | None
    is_latest: bool
    created_at: datetime
    created_by: str
    capabilities: list[Capability] = field(default_factory=list)


def generate(n_tools: int = 300, seed: int = 20240101) -> list[ToolRow]:
    """`n_tools` distinct tools, 1-5 versions each, ordered so a parent always precedes its child."""
    rng = random.Random(seed)
    combos = [(stem, suffix) for stem in _STEMS for suffix in _SUFFIXES]
    n_tools = min(n_tools, len(combos))
    picked = sorted(rng.sample(combos, n_tools))
    rows: list[ToolRow] = []
    names = [f"{s}{x}" if rng.random() < 0.5 else f"{s}-{x}" for s, x in picked]
    for (stem, suffix), name in zip(picked, names, strict=True):
        platform = rng.choice(PLATFORMS)
        category = _STEMS[stem] if rng.random() < 0.8 else rng.choice(CATEGORIES)
        n_versions = rng.choices((1, 2, 3, 4, 5), weights=(20, 30, 25, 15, 10))[0]
        major, minor, patch = rng.randint(0, 3), rng.randint(0, 9), 0
        created = _EPOCH + timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 86_399))
        parent: int | None = None
        latest_status = rng.choices(STATUSES, weights=(78, 8, 4, 6, 4))[0]
        for v in range(n_versions):
            if v:
                bump = rng.random()
                if bump < 0.15:
                    major, minor, patch = major + 1, 0, 0
                elif bump < 0.6:
                    minor, patch = minor + 1, 0
                else:
                    patch += 1
                created += timedelta(days=rng.randint(7, 120))
            is_latest = v == n_versions - 1
            status = latest_status if is_latest else rng.choices(("deprecated", "active"), weights=(80, 20))[0]
            row_id = len(rows) + 1
            deps = sorted(rng.sample(names, rng.randint(0, 3)))
            rows.append(
                ToolRow(
                    id=row_id,
                    tool_name=name,
                    version=f"{major}.{minor}.{patch}",
                    description=f"{_VERBS[suffix]} {_SUBJECTS[stem]} on {platform}.",
                    platform=platform,
                    category=category,
                    status=status,
                    enabled=status != "disabled" and rng.random() > 0.05,
                    defaults={
                        "timeout_s": rng.choice((5, 10, 30, 60)),
                        "retries": rng.randint(0, 3),
                        "output": rng.choice(("text", "json", "table")),
                    },
                    dependencies=[d for d in deps if d != name],
                    metadata={
                        "stem": stem,
                        "maintainer": rng.choice(_AUTHORS),
                        "stars": rng.randint(0, 5000),
                        "license": rng.choice(("MIT", "Apache-2.0", "GPL-3.0", "BSD-3-Clause")),
                    },
                    parent_version_id=parent,
                    is_latest=is_latest,
                    created_at=created,
                    created_by=rng.choice(_AUTHORS),
                    capabilities=[
                        Capability(row_id, c, f"{name} can {c.replace('-', ' ')}")
                        for c in sorted(rng.sample(_CAPABILITIES, rng.randint(1, 3)))
                    ],
                )
            )
            parent = row_id
    return rows
