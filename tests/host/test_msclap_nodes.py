"""Microsoft CLAP in a real ComfyUI: a `CLAP_weights_2022.pth` stand-in in models/clap/ (with
`bert-base-uncased/vocab.txt` next to it) loads through Load CLAP Model and drives CLAP Encode Audio, Audio
Timeline and CLAP Sound Prompt unchanged (1024-d embeddings); the same file in ComfyUI's own models/audio_encoders/
is listed and loads too. No SD model is needed."""
import pytest
import torch

from devtools.comfy_host import PromptExecutionError, PromptValidationError

CLAP = "CLAP_weights_2022.pth"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def assets(host_assets, host_models_dir):
    from devtools.standin_msclap import make_random_msclap_file
    path = host_models_dir / "clap" / CLAP
    if not path.exists():
        make_random_msclap_file(path, seed=4, text=True)
    torch.save({"model": {"audio_encoder.projection.linear1.weight": torch.zeros(3, 3)}},
               host_models_dir / "clap" / "CLAP_weights_cut.pth")
    in_comfy_folder = host_models_dir / "audio_encoders" / "msclap_in_audio_encoders.pth"
    if not in_comfy_folder.exists():
        in_comfy_folder.parent.mkdir(parents=True, exist_ok=True)
        in_comfy_folder.symlink_to(path)
    host_assets.audio("msclap_rain.wav", "rain", 3.0, rate=48_000, channels=2)
    host_assets.audio("msclap_chirp.wav", "chirp", 3.0, rate=44_100, seed=1)


def graph(audio, clap=CLAP, timeline=False, text=None):
    p = {"10": {"class_type": "C2DLoadAudio", "inputs": {"audio": audio}},
         "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": clap}},
         "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}}}
    if timeline:
        p["12"] = {"class_type": "C2DAudioTimeline", "inputs": {
            "clap": ["11", 0], "audio": ["10", 0], "fps": 1.0, "window_seconds": 1.0, "frame_count": 0,
            "snap": "none"}}
    if text is not None:
        del p["10"]
        p["12"] = {"class_type": "C2DCLAPTextEncode", "inputs": {"clap": ["11", 0], "text": text, "lines": "average"}}
    p["13"] = {"class_type": "C2DAudioEmbedsPreview", "inputs": {"embeds": ["12", 0], "size": 64}}
    return p


def test_loader_lists_and_encode_gives_1024d(comfy_host, assets):
    rain = comfy_host.run(graph("msclap_rain.wav"), fresh=False)["outputs"]
    clap, embeds = rain["11"][0], rain["12"][0]
    assert type(clap).__name__ == "MsClapAudioEncoder" and clap.model_id == "msclap-2022"
    assert embeds.embeds.shape == (1, 1024) and embeds.clap_dim == 1024 and embeds.clap_model_id == "msclap-2022"
    torch.testing.assert_close(embeds.embeds.norm(dim=-1), torch.ones(1))
    chirp = comfy_host.run(graph("msclap_chirp.wav"), fresh=False)["outputs"]["12"][0]
    assert (chirp.embeds - embeds.embeds).abs().max() > 1e-3


def test_a_file_in_comfyuis_audio_encoders_folder_is_listed_and_loads(comfy_host, assets):
    from_clap = comfy_host.run(graph("msclap_rain.wav"), fresh=False)["outputs"]["12"][0]
    out = comfy_host.run(graph("msclap_rain.wav", clap="msclap_in_audio_encoders.pth"), fresh=False)["outputs"]
    assert out["11"][0].source.name == "msclap_in_audio_encoders.pth"  # the executor only runs a listed name
    torch.testing.assert_close(out["12"][0].embeds, from_clap.embeds)
    with pytest.raises(PromptValidationError, match="not_there.pth") as info:  # a name that is not listed
        comfy_host.run(graph("msclap_rain.wav", clap="not_there.pth"))
    assert "msclap_in_audio_encoders.pth" in str(info.value)  # ComfyUI prints the listed names


def test_audio_timeline_runs_on_msclap(comfy_host, assets):
    out = comfy_host.run(graph("msclap_chirp.wav", timeline=True), fresh=False)["outputs"]["12"]
    embeds, frames = out[0], out[1]
    assert frames == 3 and embeds.embeds.shape == (3, 1024) and embeds.clap_model_id == "msclap-2022"


def test_broken_msclap_file_is_a_clear_error(comfy_host, assets):
    with pytest.raises(PromptExecutionError, match="Microsoft CLAP file whose audio tensors fit no supported"):
        comfy_host.run(graph("msclap_rain.wav", clap="CLAP_weights_cut.pth"))


def test_sound_prompt_runs_on_msclap(comfy_host, assets):
    rain = comfy_host.run(graph(None, text="heavy rain with thunderstorm"), fresh=False)["outputs"]["12"][0]
    birds = comfy_host.run(graph(None, text="birds sing in the forest"), fresh=False)["outputs"]["12"][0]
    assert rain.embeds.shape == (1, 1024) and rain.clap_model_id == "msclap-2022"
    torch.testing.assert_close(rain.embeds.norm(dim=-1), torch.ones(1))
    assert (rain.embeds - birds.embeds).abs().max() > 1e-3
