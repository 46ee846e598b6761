"""The dry run's "Job stats" table, read by the workflow tests and benchmarks/dryrun_scale.py."""

from __future__ import annotations

from herbseg.plan import job_stats

TABLE = """Building DAG of jobs...
Job stats:
job          count
---------  -------
all              1
aggregate        1
measure          2
total            4

Reasons:
    (check individual jobs above for details)
"""


def test_job_stats_counts_jobs_per_rule_without_the_total():
    assert job_stats(TABLE) == {"all": 1, "aggregate": 1, "measure": 2}


def test_job_stats_reads_the_last_table_and_nothing_without_one():
    # After a checkpoint Snakemake prints the plan again: the last table is the whole plan.
    first = TABLE.replace("measure          2", "ingest           1")
    assert job_stats(first + "\nUpdating job all.\n" + TABLE)["measure"] == 2
    assert job_stats("Nothing to be done (all requested files are present and up to date).") == {}
