"""CLAP Sound Tags → Prompt in a real ComfyUI: a random-weight LAION CLAP (labels meaningless, wiring real) ranks
AudioSet's labels, a vocabulary file or custom labels; a timeline gives one prompt per frame; ImageBind (no text
tower) and a non-text vocabulary file are clear errors. Ranking itself is proven on a constructed encoder in
tests/unit/test_sound_tags.py."""
import pytest

from c2d_core.sound_tags import audioset_labels
from devtools.comfy_host import PromptExecutionError

CLAP = "c2d-tags-clap"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def assets(comfy_host, host_assets, host_models_dir):
    host_assets.clap(CLAP, seed=6)
    host_assets.imagebind()
    host_assets.audio("tags_rain.wav", "rain", 3.0, seed=7)
    vocab = host_models_dir / "sound_vocabularies"
    vocab.mkdir(parents=True, exist_ok=True)
    (vocab / "weather.txt").write_text("# weather sounds\nrain\nthunder\nwind\nhail\n", encoding="utf-8")
    (vocab / "broken.txt").write_bytes(b"\x00\x01binary\xff")
    comfy_host.folder_paths.filename_list_cache.clear()


def graph(vocabulary="AudioSet (527 labels, CC BY 4.0)", clap=CLAP, timeline=False, top_k=3):
    p = {"10": {"class_type": "C2DLoadAudio", "inputs": {"audio": "tags_rain.wav"}},
         "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": clap}},
         "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
         "13": {"class_type": "C2DSoundTags", "inputs": {
             "clap": ["11", 0], "embeds": ["12", 0], "vocabulary": vocabulary, "custom_labels": "dog\ncat\n",
             "top_k": top_k, "threshold": -1.0, "template": "a painting of {labels}",
             "label_prompt": "This is a sound of {label}."}}}
    if timeline:
        p["12"] = {"class_type": "C2DAudioTimeline", "inputs": {"clap": ["11", 0], "audio": ["10", 0], "fps": 2.0,
                                                                "window_seconds": 1.0, "frame_count": 0,
                                                                "snap": "none"}}
    return p


def labels_in(prompt: str, vocabulary: list[str]) -> list[str]:
    body = prompt.removeprefix("a painting of ")
    return [label for label in vocabulary if label in body]


def test_tags_from_audioset_a_vocabulary_file_and_custom_labels(comfy_host, assets):
    out = comfy_host.run(graph(), fresh=False)["outputs"]
    prompt, frame_prompts, schedule, scores = out["13"]
    assert prompt.startswith("a painting of ") and len(scores.splitlines()) == 3
    assert all(line.split("  ", 1)[1] in audioset_labels() for line in scores.splitlines())
    assert frame_prompts == [prompt] and schedule == f'"0": "{prompt}"'  # one clip: one row
    weather = comfy_host.run(graph(vocabulary="weather.txt", top_k=2), fresh=False)["outputs"]["13"]
    assert len(labels_in(weather[0], ["rain", "thunder", "wind", "hail"])) == 2
    custom = comfy_host.run(graph(vocabulary="custom (custom_labels below)", top_k=5), fresh=False)["outputs"]["13"]
    assert sorted(labels_in(custom[0], ["dog", "cat"])) == ["cat", "dog"]  # top_k 5 of 2 labels: both


def test_a_timeline_gives_one_prompt_per_frame(comfy_host, assets):
    out = comfy_host.run(graph(timeline=True, vocabulary="weather.txt", top_k=1), fresh=False)["outputs"]["13"]
    frame_prompts, schedule = out[1], out[2]
    assert len(frame_prompts) == 6  # 3 s at 2 fps
    assert schedule.startswith(f'"0": "{frame_prompts[0]}"') and schedule.count('": "') == len(set(
        (i, p) for i, p in enumerate(frame_prompts) if i == 0 or p != frame_prompts[i - 1]))


def test_bad_vocabularies_and_an_encoder_without_text_are_clear_errors(comfy_host, assets):
    with pytest.raises(PromptExecutionError, match="broken.txt is not a text vocabulary"):
        comfy_host.run(graph(vocabulary="broken.txt"))
    with pytest.raises(PromptExecutionError, match="has no text tower"):
        comfy_host.run(graph(clap="imagebind_huge.pth"))
