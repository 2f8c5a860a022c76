"""Change points name the builds between which they happened (loadwatch.pipeline.compare.name_versions)."""

from __future__ import annotations

from loadwatch.pipeline.compare import builds_of, name_versions


def test_the_build_before_is_the_nearest_earlier_one_known():
    builds = builds_of([
        {"run_id": "r1", "target_version": "1.0", "target_commit": None},
        {"run_id": "r2", "target_version": None, "target_commit": None},  # a night without a version endpoint
        {"run_id": "r3", "target_version": "1.1", "target_commit": "abcdef0123456789"},
    ])
    assert builds == [("r1", "1.0"), ("r2", None), ("r3", "1.1 (abcdef012345)")]
    named = name_versions([{"run_id": "r3", "metric": "p95_ms"}, {"run_id": "r1", "metric": "p50_ms"},
                           {"run_id": "elsewhere", "metric": "rps"}], builds)
    assert [(c["version_before"], c["version_after"]) for c in named] == [("1.0", "1.1 (abcdef012345)"),
                                                                          (None, "1.0"), (None, None)]
    assert named[0]["metric"] == "p95_ms"  # the rest of the row is kept


def test_a_commit_alone_names_the_build():
    assert builds_of([{"run_id": "r", "target_version": None, "target_commit": "0123456789abcdef"}]) == \
        [("r", "0123456789ab")]
