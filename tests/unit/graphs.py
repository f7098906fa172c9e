"""API-prompt pieces the host tests share (tests/unit is on pytest's pythonpath)."""


def add_audio_chain(p: dict, model: list, *, audio: str, clap: str, adapter: str, strength: float = 1.0,
                    start: float = 0.0, end: float = 1.0, audio2: str | None = None,
                    loader: str = "C2DLoadAudio") -> list:
    """Adds audio → CLAP → (a second clip batched in) → adapter → Apply Audio Adapter to prompt `p` as nodes 10-17;
    returns the patched model's link ("14", 0)."""
    p["10"] = {"class_type": loader, "inputs": {"audio": audio}}
    p["11"] = {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": clap}}
    p["12"] = {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}}
    embeds = ["12", 0]
    if audio2:
        p["15"] = {"class_type": "C2DLoadAudio", "inputs": {"audio": audio2}}
        p["16"] = {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["15", 0]}}
        p["17"] = {"class_type": "C2DBatchAudioEmbeds", "inputs": {"embeds_1": embeds, "embeds_2": ["16", 0]}}
        embeds = ["17", 0]
    p["13"] = {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": adapter}}
    p["14"] = {"class_type": "C2DApplyAudioAdapter", "inputs": {
        "model": model, "adapter": ["13", 0], "embeds": embeds, "strength": strength,
        "start_percent": start, "end_percent": end}}
    return ["14", 0]
