"""Root conftest: markers for a fast inner loop, the time each run spends per test folder, and a loud line at the
end of every run saying whether the ComfyUI host tests and the front-end (browser) tests ran.

Markers (tests/pytest.ini lists them; CI runs everything): `host` (needs ComfyUI in-process), `browser` (drives the
real front end in Chromium), `interop` (loads another node pack), `slow` (over a minute on the 2-core CI machine with
cold caches or a busy CPU), `smoke` (the subset the test command also runs on the oldest supported ComfyUI).
Inner loop: `bash scripts/test.sh -m "not slow and not browser"`.
The last lines also say the lowest free disk space seen in the temp folder, and after which test (tests/pytest.ini
removes a passed test's tmp_path at once and keeps one session's folders, so a run needs its largest fixtures only).
"""
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

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
    _write_folder_totals(terminalreporter)
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


# The smoke subset run on the oldest supported ComfyUI (scripts/test.sh, C2D_SMOKE_COMFYUI), one test per property:
SMOKE_TESTS = (
    # the harness on that executor API: fresh executor, outputs read from its cache, PNG written, determinism
    "host/test_host_infra.py::test_txt2img_writes_png_and_is_deterministic",
    "host/test_host_infra.py::test_fresh_false_reuses_cached_outputs",
    "host/test_host_infra.py::test_executor_matches_the_hosts_api",
    # the pack's nodes load and the core contract holds (identity at strength 0, effect, audio decides, determinism)
    "host/test_nodes.py::test_no_op_settings_are_bit_identical_to_the_plain_model",
    "host/test_nodes.py::test_nonzero_gate_and_strength_change_the_image",
    "host/test_nodes.py::test_audio_decides_the_image_and_is_reproducible",
    # what that host's clone() does with the patch objects (a deep copy over shared weights on 0.3.64)
    "host/test_nodes.py::test_clone_shares_adapter_weights_and_blocks_match_the_family",
    # the DiT branch (Flux, Chroma) through patches_replace["dit"]: no-op bit for bit, each stream acts (that host has
    # no img_slice: the single-stream blocks find the image tokens from the double-stream blocks)
    "host/test_dit_adapters.py::test_no_op_is_bit_identical_and_the_audio_acts_on_every_stream",
    # SonicDiffusion parity through the nodes on that UNet
    "host/test_sonicdiffusion.py::test_tokens_and_one_noise_prediction_match_sonicdiffusion",
    # AudioToken's placeholder token through that host's tokenizer and CLIP (parity with AudioToken's text path)
    "host/test_audiotoken.py::test_conditioning_matches_audiotoken",
    # editing: inversion + Plug-and-Play with a mask
    "host/test_editing.py::test_outside_the_mask_the_source_is_kept",
    # trainer round trip: train on ComfyUI's UNet classes, export, the nodes reproduce the trainer's prediction
    "trainer/test_parity.py::test_exported_adapter_through_the_nodes_reproduces_the_trainer",
)
HOST_FIXTURES = {"stock_host", "comfy_host", "comfy_root", "pack_host"}


def _relative_id(item) -> str:
    path = Path(str(item.path)).resolve()
    return path.relative_to(Path(__file__).resolve().parent).as_posix() + "::" + item.name.split("[")[0]


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        rel = _relative_id(item)
        if rel in SMOKE_TESTS:
            item.add_marker(pytest.mark.smoke)
        if HOST_FIXTURES & set(getattr(item, "fixturenames", ())) or rel.startswith("host/"):
            item.add_marker(pytest.mark.host)
        if rel.startswith("host/test_frontend.py"):
            item.add_marker(pytest.mark.browser)
        if rel.startswith("host/test_interop_"):
            item.add_marker(pytest.mark.interop)


_FOLDER_SECONDS: dict = defaultdict(float)
_STARTED = [time.time()]


_STARTED_FREE = [0]


def pytest_sessionstart(session):
    _STARTED[0] = time.time()
    _STARTED_FREE[0] = _free_bytes()


_FOLDER_TESTS: dict = defaultdict(set)


_LOWEST_FREE: list = []  # [free bytes, nodeid] at the lowest point seen after a test phase


def _free_bytes() -> int:
    return shutil.disk_usage(tempfile.gettempdir()).free


def pytest_runtest_logreport(report):
    folder = report.nodeid.split("/")[0] if "/" in report.nodeid else "."
    _FOLDER_SECONDS[folder] += report.duration  # setup + call + teardown (fixtures are paid where first used)
    _FOLDER_TESTS[folder].add(report.nodeid)
    if report.when == "call":  # the test's files are all there before tmp_path is cleaned in teardown
        free = _free_bytes()
        if not _LOWEST_FREE or free < _LOWEST_FREE[0]:
            _LOWEST_FREE[:] = [free, report.nodeid]


def _write_folder_totals(terminalreporter) -> None:
    if not _FOLDER_SECONDS:
        return
    terminalreporter.write_sep("=", "time per test folder (setup + call + teardown)")
    for folder, seconds in sorted(_FOLDER_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:9.1f} s  {len(_FOLDER_TESTS[folder]):4d} tests  tests/{folder}")
    terminalreporter.write_line(f"{sum(_FOLDER_SECONDS.values()):9.1f} s  in all "
                                f"(wall {time.time() - _STARTED[0]:.1f} s)")
    if _LOWEST_FREE:
        terminalreporter.write_line(f"disk: {_STARTED_FREE[0] / 1e9:.1f} GB free in {tempfile.gettempdir()} at the start, "
                                    f"lowest {_LOWEST_FREE[0] / 1e9:.1f} GB after {_LOWEST_FREE[1]}")
