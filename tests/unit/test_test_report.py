"""The test command's closing lines add up both pytest runs (whole suite on the newest ComfyUI, smoke subset on the
oldest) from their JUnit reports, so CI's last line counts every test that ran."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _junit(path: Path, tests: int, failures: int, errors: int, skipped: int, seconds: float) -> Path:
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{errors}" '
                    f'failures="{failures}" skipped="{skipped}" tests="{tests}" time="{seconds}"/></testsuites>')
    return path


def test_both_runs_are_added_up_in_the_last_line(tmp_path):
    main = _junit(tmp_path / "main.xml", tests=410, failures=1, errors=1, skipped=3, seconds=2000.5)
    smoke = _junit(tmp_path / "smoke.xml", tests=11, failures=0, errors=0, skipped=0, seconds=300)
    out = subprocess.run([sys.executable, "-m", "devtools.test_report", str(main), str(smoke),
                          str(tmp_path / "absent.xml")], cwd=REPO, capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert "[test] main: 405 passed, 2 failed, 3 skipped in 2000 s" in lines
    assert "[test] smoke: 11 passed, 0 failed, 0 skipped in 300 s" in lines
    assert lines[-1] == "416 passed, 2 failed, 3 skipped"
