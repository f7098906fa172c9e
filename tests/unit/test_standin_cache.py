"""Stand-in files are keyed by a hash of their recipe: code changes rebuild, doc changes and reruns reuse, stale
recipes go, an interrupted build leaves nothing that looks complete."""
import importlib.util

import pytest

from devtools import standin_cache as C

RECIPE = '''"""A recipe."""
SCALE = 0.5


def make(path):
    """Writes the file."""
    path.write_text(str(SCALE))  # the content
'''


def load(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_key_follows_code_and_settings_not_docs(tmp_path):
    base = C.recipe_key({"seed": 0}, load(tmp_path, "recipe_a", RECIPE))
    reworded = RECIPE.replace('"""Writes the file."""', '"""Writes it."""').replace("# the content", "# text")
    assert C.recipe_key({"seed": 0}, load(tmp_path, "recipe_b", reworded)) == base
    assert C.recipe_key({"seed": 0}, load(tmp_path, "recipe_c", RECIPE.replace("0.5", "0.25"))) != base
    assert C.recipe_key({"seed": 1}, load(tmp_path, "recipe_d", RECIPE)) != base
    assert len(base) == C.KEY_HEX and int(base, 16) >= 0


def test_a_stand_in_module_brings_the_stand_in_modules_it_imports():
    from devtools import standin_sd15, standin_sd21_unclip, standin_sdxl

    names = [m.__name__ for m in C.stand_in_modules(standin_sd21_unclip)]
    assert names == ["devtools.standin_sd15", "devtools.standin_sd21_unclip", "devtools.standin_sdxl"]
    assert C.recipe_key({}, standin_sdxl) != C.recipe_key({}, standin_sd15)   # SDXL's code is in its key, SD1.5's too
    assert C.recipe_key({}, standin_sdxl) == C.recipe_key({}, standin_sdxl, standin_sd15)


def test_built_once_then_reused_and_stale_recipes_removed(tmp_path):
    calls = []

    def build(path):
        calls.append(path)
        path.write_bytes(b"x" * 10)

    old = tmp_path / "c2d-standin-toy-seed0-000000000000.safetensors"
    longer_stem = tmp_path / "c2d-standin-toy-seed0-lora-111111111111.safetensors"   # another stand-in: kept
    old_copy = tmp_path / "c2d-standin-toy-seed0-000000000000.ckpt"                  # a torch-format copy of it
    legacy = tmp_path / "c2d-standin-sdxl-v1-seed0.safetensors"   # the hand-versioned names before the hashes
    legacy_copy = tmp_path / "c2d-standin-sd15-inpainting-v2-seed0.ckpt"
    for f in (old, old_copy, longer_stem, legacy, legacy_copy):
        f.write_bytes(b"old")
    built = []
    path = C.cached("c2d-standin-toy-seed0", "abcdef012345", build, folder=tmp_path, built=built)
    assert path == tmp_path / "c2d-standin-toy-seed0-abcdef012345.safetensors" and path.read_bytes() == b"x" * 10
    assert not old.exists() and not old_copy.exists() and longer_stem.exists()
    assert not legacy.exists() and not legacy_copy.exists()
    assert len(built) == 1 and path.name in built[0]
    assert C.cached("c2d-standin-toy-seed0", "abcdef012345", build, folder=tmp_path, built=built) == path
    assert len(calls) == 1 and len(built) == 1
    assert calls[0] != path   # written under a temporary name, then renamed


def test_an_interrupted_build_leaves_no_file(tmp_path):
    def build(path):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        C.cached("c2d-standin-toy-seed0", "abcdef012345", build, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []
