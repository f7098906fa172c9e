"""It learns: the short synthetic benchmark (tone pitch → latent colour, random-weight CLAP, tiny UNet)
must beat chance by a clear margin on held-out clips; the shipped toy bundle reproduces its grid.
The full version with the ablations: benchmarks/train_synthetic.py."""
import math

from toy import experiment as E
from toy.bundle import BUNDLE



def test_short_synthetic_benchmark_beats_chance(tmp_path, comfy_root):
    """Trains a fresh adapter for 300 steps through the real trainer on the bundle's pretrained tiny UNet (ComfyUI's
    UNet classes: skips loudly without ComfyUI), with embeddings from the real CLAP code path (the bundle's
    random-weight CLAP), and scores 64 held-out clips (chance 25 %)."""
    results = E.run(tmp_path, E.QUICK, embed="clap", ablations=False, base_weights=BUNDLE / "unet.safetensors",
                    clap_dir=BUNDLE / "clap")
    row = results["rows"][0]
    assert results["embedding_accuracy"] >= 0.75, "the random CLAP does not separate the tones: nothing to learn"
    assert results["base_accuracy"] <= 0.45                    # without audio the base picks colours at random
    assert row["acc_cfg4"] >= 0.45, f"held-out accuracy {row['acc_cfg4']:.0%} (chance 25%)"
    assert row["gate_mean"] > 0.05 and math.isfinite(row["gate_mean"])  # the gates opened from 0
    assert row["steps"] == sum(E.QUICK.steps)


def test_toy_bundle_regenerates_the_picture_grid(tmp_path, comfy_root):
    """The shipped bundle, sampled here on fresh held-out tones, still puts each tone's colour in its square."""
    from toy.grid import grid

    size = sum(f.stat().st_size for f in BUNDLE.rglob("*") if f.is_file())
    assert size < 12 * 2 ** 20, f"the toy bundle is {size / 2 ** 20:.1f} MiB"
    result = grid(tmp_path / "grid.png", per_class=4)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["accuracy"] >= 0.75, f"held-out accuracy {result['accuracy']:.0%} (chance 25%)"
