"""The test command's last lines: both pytest runs (whole suite, smoke subset) added up from their JUnit XML files.

    python -m devtools.test_report main.xml smoke.xml --started <unix time of the set-up's start>
"""
from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> dict:
    """{"passed", "failed", "skipped", "seconds"} of one JUnit XML report (errors count as failed)."""
    suites = ET.parse(path).getroot()
    total = {"passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0}
    for suite in suites.iter("testsuite"):
        tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        total["failed"] += failures + errors
        total["skipped"] += skipped
        total["passed"] += tests - failures - errors - skipped
        total["seconds"] += float(suite.get("time", 0.0))
    return total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path)
    parser.add_argument("--started", type=float, default=None, help="unix time the test command started")
    args = parser.parse_args(argv)
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for path in args.reports:
        if not path.is_file():
            continue
        c = counts(path)
        print(f"[test] {path.stem}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped "
              f"in {c['seconds']:.0f} s")
        for key in total:
            total[key] += c[key]
    if args.started is not None:
        print(f"[test] the whole test command (set-up included) took {time.time() - args.started:.0f} s")
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")


if __name__ == "__main__":
    main()
