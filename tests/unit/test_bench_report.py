"""The bench report: counts over repeated runs, and a whole report from a small result set."""

from __future__ import annotations

from typing import Any

from bench import removed, report, run


def test_count_cell_shows_a_range_only_when_runs_differ() -> None:
    assert report.count_cell([9, 9, 9]) == "9"
    assert report.count_cell([9, 10, 11]) == "10 (9-11)"
    assert report.count_cell([]) == "-"


def test_spread_is_median_with_range() -> None:
    assert report.spread([1.0, 3.0, 2.0]) == "2.00 s (1.00-3.00, n=3)"


def test_acme_counts_add_what_only_the_front_answered() -> None:
    results = {"work": {"wildcert_warm": [{
        "acme_server": {"POST newOrder": 1},
        "acme_front": {"POST newOrder": 1, "GET renewalInfo": 1},
    }]}}
    assert report.acme_counts(results, "wildcert_warm") == [
        {"POST newOrder": 1, "GET renewalInfo": 1}]


def _work(acme: dict[str, int], aws: dict[str, int]) -> dict[str, Any]:
    return {"acme_server": acme, "acme_front": {}, "aws_proxy": aws,
            "dns_server": {"TXT": 7}, "slack": {"posts": 1}}


def small_results() -> dict[str, Any]:
    minimum = {step: n for step, n in report.ACME_MINIMUM if n}
    aws = {"route53 ChangeResourceRecordSets": 2, "route53 ListHostedZones": 1,
           "s3 PutObject": 12}
    cold = {"wall": 1.0, "import_seconds": 0.8, "peak_rss_mib": 50.0}
    scale_run = {"n": 10, "concurrency": 8, "wall": 6.0, "failures": 0, "latency_median": 4.0,
                 "latency_p95": 5.0, "worker_cpu": 1.4, "stack_cpu": 4.0,
                 "rss_baseline_mib": 92.0, "rss_peak_mib": 94.0, "rss_end_mib": 94.0,
                 "errors": [], "per_minute": 100.0}
    size = {"unzipped_bytes": 24 << 20, "zipped_bytes": 7 << 20, "files": 1000,
            "top": [["cryptography", 13 << 20], ["slack_sdk", 1 << 20]]}
    return {
        "config": {"reps": 1}, "machine": {"nproc": "2"}, "durations": {"total": 60.0},
        "timing": {"wildcert_warm": [1.0], "wildcert_cold_to_return": [3.0],
                   "wildcert_cold_wall": [3.5], "certbot_wall": [7.0], "certbot_hook": [1.0]},
        "first_runs": {"wildcert_cold": 4.0, "certbot": 8.0},
        "work": {"wildcert_cold": [_work({**minimum, "POST authz": 5}, aws)],
                 "wildcert_warm": [_work({**minimum, "POST authz": 5}, aws)],
                 "certbot": [_work(minimum, {"route53 GetChange": 2})]},
        "coldstart": {"wildcert": [cold], "certbot": [{**cold, "import_seconds": 1.6}]},
        "cold_issuance": {"wildcert_peak_rss_mib": [60.0], "certbot_peak_rss_mib": [80.0],
                          "wildcert_cpu_s": [1.0], "certbot_cpu_s": [2.0]},
        "layers": {"wildcert": size, "certbot": size, "sam_build": None},
        "scale": [scale_run, {**scale_run, "n": 50, "wall": 28.0}],
    }


def test_a_whole_report_renders() -> None:
    markdown = report.render(small_results())
    assert "certbot takes 7.0x" in markdown
    assert "| POST authz | 2 | 5 | 5 | 2 |" in markdown
    assert "| s3 PutObject | 12 | 12 | 0 |" in markdown  # every tool's calls, at the proxy
    assert "(wildcert/certbot 0.43)" in markdown  # cold container, 3.0 s against 7.0 s
    assert ("| Cold start: importing the entry point (import alone) | 0.80 s | 1.60 s | "
            "wildcert/certbot 0.50 |") in markdown
    assert "| 60.0 MiB | 80.0 MiB | wildcert/certbot 0.75 |" in markdown
    assert "the issuing process's peak RSS rises 2.0 MiB" in markdown  # the README quotes it
    assert "## Method" in markdown
    assert "[docs/FUZZ.md](../docs/FUZZ.md)" in markdown  # regenerating keeps the link


def _sdk_results(cpu: dict[str, float]) -> dict[str, Any]:
    size = {"unzipped_bytes": 2**20, "zipped_bytes": 2**19, "files": 3, "top": []}
    cold = {key: {"label": key, "samples": {f: [value] for f in (
        "cpu", "import", "first_client", "peak_rss_mib", "wall")},
        "median": {f: value for f in ("cpu", "import", "first_client", "peak_rss_mib", "wall")}}
        for key, value in cpu.items()}
    return {"sdk": {"python": "3.13.0", "runs": 1, "layer": {"before": size, "now": size},
                    "cold": cold, "measured": {"date": "2026-12-07 03:00 UTC",
                                               "commit": "abc1234", "load_average": "8.0"}}}


def test_the_sdk_section_says_which_run_it_is_from_and_what_each_change_costs() -> None:
    results = _sdk_results({"before": 0.7, "no_lean": 0.72, "sdk_no_bytecode": 1.0,
                            "after": 0.6, "after_lean": 0.5})
    text = "\n".join(report.sdk_section(results))
    assert "on 2026-12-07 03:00 UTC at commit abc1234, load average 8.0" in text
    assert "0.10 s of CPU less than the layer as it was" in text
    assert "it would cost 0.30 s more than before" in text
    assert "bought 0.10 s of CPU" in text


def test_the_sdk_section_replaces_itself_in_results_md_and_leaves_the_rest(tmp_path: Any) -> None:
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# r\n\n## Lambda layer size\n\nold run\n\n## Scale: N\n\nrows\n")
    for cpu in (0.6, 0.4):  # inserted once, then replaced
        run.rewrite_section(markdown, "sdk", _sdk_results(
            {"before": 0.7, "no_lean": 0.7, "sdk_no_bytecode": 1.0, "after": cpu,
             "after_lean": 0.3}))
    text = markdown.read_text()
    assert text.count(report.SDK_HEADING) == 1 and "0.30 s of CPU less" in text
    assert text.index("old run") < text.index(report.SDK_HEADING) < text.index("## Scale: N")
    assert text.endswith("rows\n")


def _tree(cold: float, cpu: float, rss: float, warm: float) -> dict[str, Any]:
    return {"label": "t: x", "to_return": [cold, cold + 1.0, cold - 0.1],
            "import_seconds": [0.1], "handler_seconds": [0.2],
            "cpu_seconds_at_return": [cpu], "peak_rss_mib_at_return": [rss], "warm": [warm]}


def test_what_a_removed_optimisation_bought_is_the_median_difference() -> None:
    variants = {"with": _tree(2.0, 0.5, 70.0, 1.0), "without": _tree(2.5, 0.6, 72.0, 0.9)}
    bought = removed.bought(variants, "with", "without")
    assert round(bought.cold_seconds, 3) == 0.5
    assert round(bought.cold_share, 3) == 0.2  # 0.5 s of the 2.5 s without it
    assert round(bought.cpu_seconds, 3) == 0.1
    assert round(bought.cpu_share, 3) == round(0.1 / 0.6, 3)
    assert round(bought.peak_rss_mib, 3) == 2.0
    assert round(bought.warm_seconds, 3) == -0.1  # it cost that much warm


def test_the_removed_section_says_what_each_removal_bought_and_replaces_itself(
        tmp_path: Any) -> None:
    variants = {key: _tree(2.0, 0.5, 70.0, 1.0) for key in ("before", "removal", "now")}
    variants["now_arena"] = _tree(1.9, 0.5, 69.0, 1.0)
    variants["again"] = _tree(2.05, 0.52, 70.0, 1.0)
    results = {"removed": {"rounds": 3, "warm_per_process": 1, "variants": variants,
                           "measured": {"date": "2026-12-07 05:00 UTC", "commit": "abc1234"}}}
    text = "\n".join(removed.section(results))
    assert ("- MALLOC_ARENA_MAX=2 (this tree with it against this tree without) bought +100 ms "
            "of a cold issuance on this stack (+5.0% of it)") in text
    assert "+1.0 MiB of its peak RSS" in text and "at most 0.17% of one" in text
    assert "Noise floor: this tree run twice in the same rounds differs by 50 ms" in text
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text(f"# r\n\n{removed.HEADING}\n\nstale run\n\n## Scale: N\n\nrows\n")
    run.rewrite_section(markdown, "removed", results)
    written = markdown.read_text()
    assert "stale run" not in written and written.count(removed.HEADING) == 1
    assert written.index(removed.HEADING) < written.index("## Scale: N")


def test_a_removed_optimisations_tree_is_that_commits_issuer_from_git(tmp_path: Any) -> None:
    assert removed.tree_of(None, tmp_path) == removed.ROOT
    tree = removed.tree_of(removed.REMOVAL, tmp_path)
    assert (tree / "functions" / "issuer" / "app.py").is_file()
    assert not (tree / "layers/wildcert/wildcert/jobs/issue/head_start.py").exists()
    before = removed.tree_of(removed.BEFORE, tmp_path)
    assert (before / "layers/wildcert/wildcert/jobs/issue/head_start.py").is_file()
