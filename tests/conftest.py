"""Root conftest: says loudly at the end of every run whether the ComfyUI host tests and the front-end
(browser) tests ran."""

HOST_SKIP_MARK = "ComfyUI host not found"  # tests/host/conftest.py skips with this text
FRONTEND_SKIP_MARK = "front-end tests did NOT run"  # tests/host/test_frontend.py skips with this text
OTHER_PACK_SKIP_MARK = "OTHER PACK NOT FOUND"  # devtools.other_packs.SKIP_MARK (interop tests)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2])
    return str(longrepr)


def _skipped_with(terminalreporter, mark: str) -> list:
    return [r for r in terminalreporter.stats.get("skipped", []) if mark in _skip_reason(r)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = _skipped_with(terminalreporter, HOST_SKIP_MARK)
    host = getattr(config, "c2d_host_description", None)
    if skipped:
        reason = _skip_reason(skipped[0]).removeprefix("Skipped: ")
        terminalreporter.write_sep("!", f"HOST TESTS SKIPPED: {len(skipped)} tests did not run: {reason}",
                                   red=True, bold=True)
    elif host:
        terminalreporter.write_sep("=", f"HOST TESTS RAN against {host}", green=True, bold=True)
    else:
        terminalreporter.write_line("(no ComfyUI host tests were selected in this run)")
    browser_skipped = _skipped_with(terminalreporter, FRONTEND_SKIP_MARK)
    browser = getattr(config, "c2d_browser_description", None)
    if browser_skipped:
        reason = _skip_reason(browser_skipped[0]).removeprefix("Skipped: ")
        terminalreporter.write_sep("!", f"FRONT-END TESTS SKIPPED: {len(browser_skipped)} tests did not run: "
                                        f"{reason}", red=True, bold=True)
    elif browser:
        terminalreporter.write_sep("=", f"FRONT-END TESTS RAN in {browser}", green=True, bold=True)
    pack_skipped = _skipped_with(terminalreporter, OTHER_PACK_SKIP_MARK)
    reasons = sorted({_skip_reason(r).removeprefix("Skipped: ").split(" (set")[0] for r in pack_skipped})
    for reason in reasons:
        count = sum(reason in _skip_reason(r) for r in pack_skipped)
        terminalreporter.write_sep("!", f"INTEROP TESTS SKIPPED: {count} tests did not run: {reason}", red=True, bold=True)
    ran = getattr(config, "c2d_other_packs", None)
    if ran:
        terminalreporter.write_sep("=", "INTEROP TESTS RAN with " + ", ".join(sorted(ran.values())), green=True, bold=True)
