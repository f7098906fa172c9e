"""comfy_locator finds ComfyUI where the README says, and the set-up fetches the tested release when none is there."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import comfy_locator as L

REPO = Path(__file__).resolve().parents[2]


def fake_comfyui(path: Path, version: str | None = None) -> Path:
    (path / "comfy").mkdir(parents=True)
    (path / "comfy" / "__init__.py").write_text("")
    (path / "nodes.py").write_text("# a stand-in ComfyUI\n")
    if version:
        (path / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')
    return path


def test_newest_version_is_the_main_host_and_the_oldest_other_runs_the_smoke_subset(tmp_path, monkeypatch):
    old, new, mid = (fake_comfyui(tmp_path / n, v) for n, v in (("old", "0.3.64"), ("new", "0.33.0"),
                                                                   ("mid", "0.10.2")))
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.setenv("COMFYUI_PATHS", os.pathsep.join(map(str, (mid, old))))
    monkeypatch.setenv("C2D_COMFYUI_PLACES", str(new))
    monkeypatch.setattr(L, "FETCH_ROOT", tmp_path / "nothing-fetched")
    assert [h.version for h in L.find_all()] == ["0.10.2", "0.3.64", "0.33.0"]
    assert L.find() == new.resolve()                              # 0.33.0 > 0.10.2 > 0.3.64, numerically
    main, smoke = L.test_hosts()
    assert (main.path, smoke.path, smoke.version) == (new.resolve(), old.resolve(), "0.3.64")
    monkeypatch.setenv("COMFYUI_PATH", str(old))                  # an explicit choice wins over the newest
    main, smoke = L.test_hosts()
    assert (main.path, smoke.path) == (old.resolve(), mid.resolve())
    monkeypatch.delenv("COMFYUI_PATH")
    installed_in = fake_comfyui(tmp_path / "in-use", "0.20.0")
    monkeypatch.setattr(L, "REPO_ROOT", installed_in / "custom_nodes" / "ComfyUI-CLAP2Diffusion")
    assert L.find() == installed_in.resolve()                     # the ComfyUI this pack is installed in comes next
    monkeypatch.setenv("COMFYUI_PATHS", "")
    monkeypatch.setenv("C2D_COMFYUI_PLACES", "")
    assert L.test_hosts()[1] is None                              # one version found: no smoke run


def _needs_a_missing_package(root: Path) -> Path:
    """A ComfyUI whose comfy.model_management imports a package this environment lacks (as 0.33's comfy_aimdo)."""
    (root / "utils").mkdir()
    (root / "utils" / "__init__.py").write_text("")
    (root / "utils" / "extra_config.py").write_text("")
    (root / "comfy" / "cli_args.py").write_text("class _A:\n    cpu = False\nargs = _A()\n")
    (root / "comfy" / "model_management.py").write_text("import comfy_aimdo_not_installed_here\n")
    return root


def test_a_missing_host_dependency_is_one_line_naming_it_and_the_fix(tmp_path):
    """ComfyUI 0.33 imports comfy_aimdo from comfy/memory_management.py; without it, one line says what to install,
    from the locator and from the demo (the README's main job)."""
    root = _needs_a_missing_package(fake_comfyui(tmp_path / "ComfyUI", "0.33.0"))
    code = ("import comfy_locator as L\n"
            "try:\n    L.import_comfy(%r, cpu=True)\nexcept L.HostDependencyError as e:\n    print('ERR', e)\n" % str(root))
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = [l for l in r.stdout.splitlines() if l.startswith("ERR")]
    assert r.returncode == 0 and len(lines) == 1, r.stdout + r.stderr
    assert "ComfyUI 0.33.0" in lines[0] and "'comfy_aimdo_not_installed_here'" in lines[0]
    assert f"pip install -r {root.resolve() / 'requirements.txt'}" in lines[0] and "Traceback" not in r.stderr
    demo = subprocess.run([sys.executable, "-m", "devtools.demo", "--out", str(tmp_path / "out"), "--no-toy"], cwd=REPO,
                          env={**os.environ, "COMFYUI_PATH": str(root)}, capture_output=True, text=True, timeout=300)
    said = [l for l in demo.stderr.splitlines() if "comfy_aimdo_not_installed_here" in l]
    assert demo.returncode == 2 and len(said) == 1 and "Traceback" not in demo.stderr, demo.stderr[-3000:]


def test_comfyui_path_comes_first_and_a_wrong_one_is_reported(tmp_path, monkeypatch, caplog):
    first, second = fake_comfyui(tmp_path / "a"), fake_comfyui(tmp_path / "b")
    monkeypatch.setenv("C2D_COMFYUI_PLACES", str(second))
    monkeypatch.setenv("COMFYUI_PATH", str(first))
    assert L.find() == first.resolve()
    monkeypatch.setenv("COMFYUI_PATH", str(tmp_path / "not-comfy"))
    with caplog.at_level(logging.WARNING):
        assert L.find() == second.resolve()
    assert "not-comfy is not a ComfyUI checkout" in caplog.text


def test_nothing_found_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.setenv("C2D_COMFYUI_PLACES", str(tmp_path / "nowhere"))
    monkeypatch.setattr(L, "FETCH_ROOT", tmp_path / "not-fetched")
    assert L.find() is None
    with pytest.raises(L.HostNotFoundError, match="set COMFYUI_PATH"):
        L.import_comfy()
    with pytest.raises(L.HostNotFoundError, match="is not a ComfyUI checkout"):
        L.import_comfy(tmp_path)


def _locate(tmp_path, git_url):
    """Sources scripts/find_comfyui.sh as setup_env.sh does, with no ComfyUI anywhere; returns (COMFYUI_PATH, out)."""
    env = {k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"}
    env.update(HOME=str(tmp_path / "home"), C2D_COMFYUI_PLACES=str(tmp_path / "nowhere"), C2D_COMFYUI_GIT=git_url,
               C2D_PY=sys.executable, HERE=str(REPO))
    r = subprocess.run(["bash", "-c", 'set -euo pipefail; source scripts/find_comfyui.sh; echo "PATH_IS=${COMFYUI_PATH:-}"'],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.rsplit("PATH_IS=", 1)[1].strip(), r.stdout


def test_setup_fetches_the_tested_release_when_none_is_found(tmp_path):
    origin = fake_comfyui(tmp_path / "origin")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(origin)]
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "release"], check=True)
    subprocess.run(git + ["tag", f"v{L.TESTED_VERSION}"], check=True)
    found, out = _locate(tmp_path, f"file://{origin}")
    fetched = tmp_path / "home" / ".cache" / "clap2diffusion" / f"ComfyUI-{L.TESTED_VERSION}"
    assert found == str(fetched.resolve()) and (fetched / "nodes.py").is_file(), out
    assert f"fetching the newest tested release v{L.TESTED_VERSION}" in out and L.TESTED_VERSION == L.NEWEST_VERSION
    assert _locate(tmp_path, "file:///nowhere")[0] == found      # the second run finds the fetched copy


def test_setup_offline_says_in_one_line_what_to_set(tmp_path):
    found, out = _locate(tmp_path, f"file://{tmp_path / 'no-such-repo'}")
    assert found == ""
    lines = [l for l in out.splitlines() if l.startswith("!!!")]
    assert len(lines) == 1 and "set COMFYUI_PATH" in lines[0], out
