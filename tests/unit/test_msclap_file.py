"""Microsoft CLAP files: format recognition and bad input, each a clear ClapModelError (no msclap needed)."""
import pickle

import pytest
import torch

from c2d_core.clap import MsClapAudioEncoder, is_msclap_checkpoint
from c2d_core.clap.msclap_encoder import tile_to
from c2d_core.clap.msclap_file import VARIANTS, layout_problems
from c2d_core.clap.msclap_layout import audio_layout, read_msclap_audio
from c2d_core.clap.encoder import ClapAudioEncoder
from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.errors import ClapModelError

LAYOUT = audio_layout(VARIANTS["2022"])


def fake_state(drop=(), **replace):
    """Uninitialised tensors in the declared 2022 layout (fast; values never matter for these checks)."""
    sd = {k: torch.empty(s) for k, s in LAYOUT.items() if k not in drop}
    sd.update(replace)
    return {"model": sd}


def test_layout_fits_and_front_end_tensors_are_optional():
    assert layout_problems(fake_state()["model"], LAYOUT) == []
    optional = [k for k in LAYOUT if "extractor" in k or k.endswith("num_batches_tracked")]
    assert len(optional) == 3 + 13  # conv_real, conv_imag, melW; bn0 + 2 in each of 6 conv blocks
    variant, audio = read_msclap_audio(fake_state(drop=optional))
    assert variant.model_id == "msclap-2022" and "projection.linear1.weight" in audio
    assert not any(k.startswith("audio_encoder.") for k in audio)


def test_wrong_shape_names_tensor_and_both_shapes():
    bad = fake_state(**{"audio_encoder.projection.linear1.weight": torch.empty(1024, 768)})
    with pytest.raises(ClapModelError, match=r"audio_encoder\.projection\.linear1\.weight has shape \[1024, 768\], "
                                             r"expected \[1024, 2048\]"):
        read_msclap_audio(bad, name="CLAP_weights_2022.pth")


def test_missing_and_unexpected_tensors_are_named():
    with pytest.raises(ClapModelError, match=r"audio_encoder\.base\.conv_block3\.conv2\.weight is missing "
                                             r"\(expected shape \[256, 256, 3, 3\]\)"):
        read_msclap_audio(fake_state(drop=("audio_encoder.base.conv_block3.conv2.weight",)))
    with pytest.raises(ClapModelError, match=r"audio_encoder\.base\.conv_block7\.conv1\.weight is unexpected"):
        read_msclap_audio(fake_state(**{"audio_encoder.base.conv_block7.conv1.weight": torch.empty(2)}))


def test_truncated_2023_file_reports_both_variants():
    with pytest.raises(ClapModelError, match=r"as msclap-2022: .*bn0\.weight is missing.*as msclap-2023: .*"
                                             r"patch_embed\.proj\.bias is missing"):
        read_msclap_audio({"model": {"audio_encoder.base.htsat.patch_embed.proj.weight": torch.empty(96, 1, 4, 4)}})


def test_laion_file_given_as_msclap(tmp_path):
    path = tmp_path / "630k-audioset-best.pt"
    torch.save({"state_dict": {"module.audio_branch.patch_embed.proj.weight": torch.zeros(2)}}, path)
    with pytest.raises(ClapModelError, match="LAION-CLAP checkpoint.*not a Microsoft CLAP file"):
        MsClapAudioEncoder.from_path(path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ClapModelError, match="not a Microsoft CLAP file"):
        MsClapAudioEncoder.from_path(tmp_path / "other.pth")


def test_msclap_file_given_as_laion(tmp_path):
    path = tmp_path / "CLAP_weights_2022.pth"
    torch.save(fake_state(drop=tuple(LAYOUT)[1:]), path)  # msclap format, one tensor: small
    assert is_msclap_checkpoint(torch.load(path, weights_only=True))
    with pytest.raises(ClapModelError, match="not a LAION-CLAP checkpoint: it is a Microsoft CLAP file"):
        ClapAudioEncoder.from_laion_checkpoint(torch.load(path, weights_only=True), path.name)
    # the pack's entry point reads it as Microsoft CLAP, and says what is wrong with it
    with pytest.raises(ClapModelError, match="Microsoft CLAP file whose audio tensors fit no supported variant"):
        load_audio_encoder(path)


class WritesFile:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))  # unpickling would create the file


def test_unsafe_pickle_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    sd = fake_state(drop=tuple(LAYOUT)[1:])
    sd["config"] = WritesFile(marker)
    torch.save(sd, tmp_path / "evil.pth")
    with open(tmp_path / "evil_plain.pth", "wb") as f:
        pickle.dump({"model": WritesFile(marker)}, f, protocol=2)
    for p in ("evil.pth", "evil_plain.pth"):
        for load in (MsClapAudioEncoder.from_path, load_audio_encoder):
            with pytest.raises(ClapModelError, match="unsafe unpickling"):
                load(tmp_path / p)
    assert not marker.exists()
    pickle.loads(pickle.dumps(WritesFile(marker)))  # the payload is real: unpickled unsafely it writes the file
    assert marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(ClapModelError, match="not found.*models/clap"):
        MsClapAudioEncoder.from_path(tmp_path / "CLAP_weights_2022.pth")


def test_tile_to_repeats_and_cuts():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert tile_to(x, 7).tolist() == [[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]]
    assert tile_to(x, 2).tolist() == [[1.0, 2.0]]
    assert VARIANTS["2022"].clip_samples == 441_000
