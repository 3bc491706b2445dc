"""Summarises an irctest run (pytest's JUnit XML) against the list of expected failures.

Usage: summary.py JUNIT_XML EXPECTED_FAILURES. The list holds one test a line, `id | reason`
(the id as pytest prints it, `file::Class::test[params]`, which may hold spaces); a line that
starts with `#` is a comment. Exits 1 if a test
failed that is not listed, or if a listed line has no reason.
"""

import sys
import xml.etree.ElementTree as ET


def expected(path):
    listed = {}
    for number, raw in enumerate(open(path, encoding="utf-8"), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        test, _, reason = text.partition(" | ")
        test = test.strip()
        if not reason.strip():
            sys.exit(f"{path}:{number}: {test} has no reason")
        listed[test] = reason.strip()
    return listed


def outcomes(path):
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)
        test = f"{module[0].replace('.', '/')}.py::{module[-1]}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            results[test] = "failed"
        elif case.find("skipped") is not None:
            results[test] = "skipped"
        else:
            results[test] = "passed"
    return results


def main():
    results = outcomes(sys.argv[1])
    listed = expected(sys.argv[2])
    counts = {}
    for outcome in results.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    unexpected = sorted(t for t, o in results.items() if o == "failed" and t not in listed)
    fixed = sorted(t for t, o in results.items() if o == "passed" and t in listed)
    print(
        "irctest: {} passed, {} failed ({} expected), {} skipped".format(
            counts.get("passed", 0),
            counts.get("failed", 0),
            counts.get("failed", 0) - len(unexpected),
            counts.get("skipped", 0),
        )
    )
    for test in fixed:
        print(f"irctest: listed as failing but passed now: {test}")
    for test in unexpected:
        print(f"irctest: UNEXPECTED FAILURE: {test}")
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
