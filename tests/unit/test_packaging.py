"""Registry metadata, requirements and the README's two commands agree with the repository."""
import json
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_is_fit_for_the_comfy_registry():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    project, comfy = meta["project"], meta["tool"]["comfy"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", project["name"]) and re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert (REPO / project["license"]["file"]).is_file() and (REPO / project["readme"]).is_file()
    assert comfy["PublisherId"] and comfy["DisplayName"]
    icon = comfy["Icon"].split("/main/", 1)[1]
    assert (REPO / icon).is_file(), f"the registry icon {icon} is not in the repository"
    reqs = [l.strip() for l in (REPO / "requirements.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")]
    assert sorted(project["dependencies"]) == sorted(reqs), "pyproject dependencies and requirements.txt differ"
    assert not any(r.split("=")[0].split(">")[0].strip() in {"torch", "torchvision", "torchaudio"} for r in reqs), \
        "never pin torch for ComfyUI-Manager installs"
    includes = comfy.get("includes", [])
    assert {"workflows", "toy/bundle"} <= set(includes), "the registry zip must ship workflows + toy bundle"
    for folder in includes:
        assert (REPO / folder).is_dir(), f"includes names {folder}, which is not a folder"
    bundle = sum(f.stat().st_size for f in (REPO / "toy" / "bundle").rglob("*") if f.is_file())
    assert bundle < 10 * 2 ** 20, f"toy bundle is {bundle / 2 ** 20:.1f} MiB; keep the registry zip small"
    train = [l.split("#")[0].strip() for l in (REPO / "training" / "requirements.txt").read_text().splitlines()]
    assert sorted(project["optional-dependencies"]["train"]) == sorted(r for r in train if r), \
        "pyproject's `train` extra and training/requirements.txt differ"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    for script in ("demo.sh", "test.sh", "setup_env.sh"):
        assert (REPO / "scripts" / script).is_file()


def test_workflows_are_ui_format_json_with_consistent_links():
    files = sorted((REPO / "workflows").glob("*.json"))
    assert files
    for f in files:
        wf = json.loads(f.read_text())
        assert {"nodes", "links", "last_node_id", "last_link_id"} <= set(wf), f.name
        ids = {n["id"] for n in wf["nodes"]}
        assert max(ids) <= wf["last_node_id"]
        for link_id, src, src_slot, dst, dst_slot, _type in wf["links"]:
            assert src in ids and dst in ids and link_id <= wf["last_link_id"], (f.name, link_id)
            dst_node = next(n for n in wf["nodes"] if n["id"] == dst)
            assert dst_node["inputs"][dst_slot]["link"] == link_id, (f.name, link_id)


def test_node_api_is_imported_from_the_pinned_module_only():
    """ComfyUI's `comfy_api.latest` changes every release: the pack reads its node API from one module that pins a
    versioned API, so an API move is fixed in one place."""
    pin = REPO / "nodes" / "comfy_api_pin.py"
    assert re.search(r"^\s*from comfy_api\.v0_0_2 import", pin.read_text(), re.M)
    shipped = [p for d in ("nodes", "c2d_core", "training") for p in (REPO / d).rglob("*.py")] + [REPO / "__init__.py"]
    offenders = [str(p.relative_to(REPO)) for p in shipped if p != pin
                 and re.search(r"^\s*(from|import) comfy_api\b", p.read_text(), re.M)]
    assert not offenders, f"import the node API through nodes/comfy_api_pin.py, not directly: {offenders}"


def test_clap_text_tower_and_audio_encoder_import_one_way():
    """c2d_core.clap: the audio encoder loads the text tower on first use; the text tower never imports the encoder."""
    import subprocess
    import sys

    code = "import sys, c2d_core.clap.text; print('c2d_core.clap.encoder' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr
