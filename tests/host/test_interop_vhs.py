"""VideoHelperSuite's real code beside ours in one ComfyUI: Load Video's audio drives Audio Timeline, one latent per
video frame, and Video Combine writes the frames with that audio (random SD1.5 stand-in, 64² images, 2 steps)."""
import av
import numpy as np
import pytest

from devtools.comfy_host import PromptExecutionError

CLAP = "c2d-interop-clap"
ADAPTER = "interop_gate05.safetensors"
FPS, SECONDS, RATE = 6, 1.0, 22_050

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


def write_mp4(path, fps=FPS, seconds=SECONDS, audio=True, size=64):
    """An h264 mp4 whose frames change colour, with (or without) an AAC tone track, written with PyAV."""
    n = round(fps * seconds)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=RATE, layout="mono") if audio else None
        for i in range(n):
            frame = np.full((size, size, 3), (40 * i) % 256, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(round(RATE * seconds)) / RATE
            wave = (0.3 * np.sin(2 * np.pi * 440 * t) * np.linspace(0.1, 1, t.size)).astype(np.float32)
            chunk = 1024
            for start in range(0, wave.size, chunk):
                frame = av.AudioFrame.from_ndarray(wave[None, start:start + chunk], format="fltp", layout="mono")
                frame.sample_rate = RATE
                frame.pts = start
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


@pytest.fixture(scope="module")
def names(comfy_host, other_pack, host_assets, standins):
    other_pack("vhs")
    host_assets.clap(CLAP, seed=2)
    host_assets.adapter(ADAPTER, seed=3, gate_init=0.5)
    write_mp4(comfy_host.input_dir / "interop_with_sound.mp4")
    write_mp4(comfy_host.input_dir / "interop_silent.mp4", audio=False)
    return {"ckpt": standins["sd15"]}


def vhs_graph(ckpt, video):
    """Load Video → (audio) Audio Timeline at the video's fps and frame count → one latent per frame → Apply Audio
    Adapter with the loudness schedule → KSampler → Video Combine (h264 mp4) with the video's audio."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a street", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "40": {"class_type": "VHS_LoadVideo", "inputs": {
            "video": video, "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": 0,
            "skip_first_frames": 0, "select_every_nth": 1}},
        "41": {"class_type": "VHS_VideoInfoLoaded", "inputs": {"video_info": ["40", 3]}},
        "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
        "12": {"class_type": "C2DAudioTimeline", "inputs": {
            "clap": ["11", 0], "audio": ["40", 2], "fps": ["41", 0], "window_seconds": 0.5,
            "frame_count": ["40", 1], "snap": "none"}},
        "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": ADAPTER}},
        "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
            "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": 1.0, "start_percent": 0.0,
            "end_percent": 1.0, "strength_schedule": ["12", 3]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": ["12", 1]}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": 1,
            "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "42": {"class_type": "VHS_VideoCombine", "inputs": {
            "images": ["6", 0], "frame_rate": ["12", 2], "loop_count": 0, "filename_prefix": "c2d_interop",
            "format": "video/h264-mp4", "pingpong": False, "save_output": True, "audio": ["40", 2],
            "pix_fmt": "yuv420p", "crf": 19, "save_metadata": False, "trim_to_audio": False}},
    }


def test_load_video_audio_drives_one_latent_per_frame_and_video_combine_keeps_fps_and_sound(comfy_host, names):
    result = comfy_host.run(vhs_graph(names["ckpt"], "interop_with_sound.mp4"))
    out = result["outputs"]
    loaded_frames, loaded_fps = out["40"][1], out["41"][0]
    assert loaded_frames == round(FPS * SECONDS) and loaded_fps == pytest.approx(FPS)
    assert out["12"][1] == loaded_frames and out["12"][2] == pytest.approx(loaded_fps)  # timeline follows the video
    assert out["12"][0].embeds.shape[0] == loaded_frames and len(out["12"][3]) == loaded_frames
    assert out["12"][3][0] < out["12"][3][-1]                  # the tone fades in: the schedule rises
    assert out["5"][0]["samples"].shape[0] == loaded_frames    # one latent per frame
    mp4s = [f for f in result["files"] if f.suffix == ".mp4"]
    assert len(mp4s) == 1, result["files"]
    with av.open(str(mp4s[0])) as clip:
        video = clip.streams.video[0]
        frames = sum(1 for _ in clip.decode(video=0))
        assert frames == loaded_frames
        assert float(video.average_rate) == pytest.approx(FPS, rel=1e-3)
        assert (video.width, video.height) == (64, 64)
        assert len(clip.streams.audio) == 1                      # Video Combine muxed the sound back in
    with av.open(str(mp4s[0])) as clip:
        samples = sum(f.samples for f in clip.decode(audio=0))
        rate = clip.streams.audio[0].rate
    assert samples / rate == pytest.approx(SECONDS, abs=0.1)


def test_a_video_without_sound_gets_a_clear_error(comfy_host, names):
    """VHS's Load Video returns its audio lazily. ComfyUI 0.3.64 leaves it unread until our node meets it, so ours is
    the error, in one line. ComfyUI 0.33's PromptModelTracker walks every node output (comfy/model_patcher.py), which
    reads the audio inside Load Video itself: VHS's own error comes first there, naming the file."""
    import comfy.model_patcher

    with pytest.raises(PromptExecutionError) as info:
        comfy_host.run(vhs_graph(names["ckpt"], "interop_silent.mp4"))
    err = info.value
    if hasattr(comfy.model_patcher, "PromptModelTracker"):   # 0.33+
        assert err.node_type == "VHS_LoadVideo" and "failed to extract audio" in err.exception_message, err
        assert "interop_silent.mp4" in err.exception_message
        return
    assert err.node_id == "12" and err.exception_type.endswith("AudioInputError"), err
    message = err.exception_message.strip()
    assert message.startswith("this input has no audio"), message
    assert "Load Audio" in message.splitlines()[0] and len(message) < 600, message   # ours first, ffmpeg's log cut
