"""The independent judge: SonicDiffusion's AIS ranking on constructed embeddings, and `python -m training score` on a
folder of pairs with ImageBind and CLIP ViT-H/14 stand-ins in the released layouts (random weights: wiring, not
quality)."""
import json

import pytest
import torch
import torch.nn.functional as F

from devtools.demo_audio import synth, write_wav
from training.judge import ais_ranking
from training.metrics import MetricModelError


def test_ais_is_the_fraction_of_reference_clips_each_image_prefers_its_own_to():
    g = torch.Generator().manual_seed(0)
    audio = F.normalize(torch.randn(5, 16, generator=g), dim=-1)
    assert ais_ranking(audio, audio) == pytest.approx(4 / 5)  # a perfect judge: (M − 1) / M, the own clip ties
    assert ais_ranking(audio, -audio) == 0.0                  # every image prefers every other clip to its own
    # hand-made 3 × 3 similarities: image 0 beats 2 of 3, image 1 beats 1 of 3, image 2 beats 0 of 3
    images = torch.eye(3)
    clips = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.6, 0.0], [0.2, 0.3, 0.0]])  # image i · clip j = clips[j, i]
    assert ais_ranking(clips, images) == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    with pytest.raises(MetricModelError, match="N ≥ 2"):
        ais_ranking(audio[:1], audio[:1])


@pytest.fixture(scope="module")
def judge_files(comfy_root, tmp_path_factory):
    from devtools import standin_packs
    from devtools.standin_imagebind import make_random_imagebind_file

    root = tmp_path_factory.mktemp("judge")
    return {"imagebind": make_random_imagebind_file(root / "imagebind_huge.pth", seed=2),
            "clip_vision": standin_packs.ensure("clip_vision", standin_packs.clip_vision_h), "root": root}


def test_score_command_on_a_folder_of_pairs(judge_files, tmp_path):
    from PIL import Image

    from training.cli import main

    data = tmp_path / "pairs"
    for i, (kind, colour) in enumerate((("rain", (30, 60, 200)), ("chirp", (220, 200, 40)), ("tone", (200, 30, 30)))):
        write_wav(data / f"{kind}.wav", synth(kind, 2.0, 22_050, 1, seed=i), 22_050)
        Image.new("RGB", (48, 40), colour).save(data / f"{kind}.png")
    write_wav(data / "lonely.wav", synth("noise", 1.0, 16_000, 1), 16_000)
    out = tmp_path / "scores.json"
    assert main(["score", str(data), "--imagebind", str(judge_files["imagebind"]),
                 "--clip-vision", str(judge_files["clip_vision"]), "--out", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["pairs"] == 3 and 0.0 <= scores["AIS_imagebind"] <= 2 / 3 == scores["AIS_imagebind_perfect"]
    assert -1.0 <= scores["cosine_matched"] <= 1.0 and "lonely" in scores["not_paired"]


def test_the_judge_refuses_a_clap_and_a_missing_vision_file(judge_files, tmp_path):
    from devtools.standin_clap import make_random_clap_folder
    from training.judge import ImageBindJudge

    clap = make_random_clap_folder(tmp_path / "clap", seed=0)
    with pytest.raises(MetricModelError, match="must be ImageBind.*LAION-CLAP"):
        ImageBindJudge.from_paths(clap, judge_files["clip_vision"])
    with pytest.raises(MetricModelError, match="CLIP vision file not found.*CLIP-ViT-H-14-laion2B"):
        ImageBindJudge.from_paths(judge_files["imagebind"], tmp_path / "nothing.safetensors")
