"""Root conftest: says loudly at the end of every run whether the ComfyUI host tests ran."""

HOST_SKIP_MARK = "ComfyUI host not found"  # tests/host/conftest.py skips with this text


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2])
    return str(longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if HOST_SKIP_MARK in _skip_reason(r)]
    host = getattr(config, "c2d_host_description", None)
    if skipped:
        reason = _skip_reason(skipped[0]).removeprefix("Skipped: ")
        terminalreporter.write_sep("!", f"HOST TESTS SKIPPED: {len(skipped)} tests did not run: {reason}",
                                   red=True, bold=True)
    elif host:
        terminalreporter.write_sep("=", f"HOST TESTS RAN against {host}", green=True, bold=True)
    else:
        terminalreporter.write_line("(no ComfyUI host tests were selected in this run)")
