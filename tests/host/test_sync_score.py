"""The Sync Score node inside ComfyUI: core AUDIO and IMAGE in, the AV-Align score and its peaks out."""
import pytest
from test_av_align import FPS, RATE, clicks, jumping_square


def test_sync_score_node_scores_a_synced_video_above_a_late_one(comfy_host):
    pytest.importorskip("cv2", reason="OpenCV (opencv-python-headless, requirements-dev.txt) is not installed")
    node = comfy_host.node_class("C2DSyncScore")
    audio = {"waveform": clicks(), "sample_rate": RATE}
    synced = node.execute(images=jumping_square(), audio=audio, fps=FPS)
    late = node.execute(images=jumping_square(shift=0.5), audio=audio, fps=FPS)
    assert synced.result[0] >= 0.75 > 0.25 >= late.result[0]
    assert synced.result[1].startswith("AV-Align 1.000: 4 audio onsets")
