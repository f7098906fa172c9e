"""Model folders of the pack: models/clap/, models/audio_adapters/, models/sound_vocabularies/,
models/audiotoken/ and models/gluegen/ (registered once at import); audio encoders are also listed from ComfyUI's
own models/audio_encoders/."""
import os

import folder_paths

CLAP_FOLDER = "clap"
AUDIO_ENCODER_FOLDERS = (CLAP_FOLDER, "audio_encoders")  # ours first, then ComfyUI's own (ComfyUI registers it)
ADAPTER_FOLDER = "audio_adapters"
VOCABULARY_FOLDER = "sound_vocabularies"  # .txt files of sound labels for CLAP Sound Tags
AUDIOTOKEN_FOLDER = "audiotoken"  # AudioToken's embedder_learned_embeds.bin
GLUEGEN_FOLDER = "gluegen"  # GlueGen's gluenet_sound2img_audioclip_us8k.ckpt
CLAP_EXTENSIONS = {".safetensors", ".pt", ".ckpt", ".bin", ".pth"}
# .pt etc. are listed so a user who drops one gets a clear "convert to safetensors" error, not silence.
ADAPTER_EXTENSIONS = {".safetensors", ".pt", ".ckpt", ".bin", ".pth"}


def register_model_folders() -> None:
    """Add our folders, keeping any paths a user configured in extra_model_paths.yaml."""
    for name, exts in ((CLAP_FOLDER, CLAP_EXTENSIONS), (ADAPTER_FOLDER, ADAPTER_EXTENSIONS),
                       (VOCABULARY_FOLDER, {".txt"}), (AUDIOTOKEN_FOLDER, ADAPTER_EXTENSIONS),
                       (GLUEGEN_FOLDER, ADAPTER_EXTENSIONS)):
        default = os.path.join(folder_paths.models_dir, name)
        if name in folder_paths.folder_names_and_paths:
            paths, old_exts = folder_paths.folder_names_and_paths[name]
            if default not in paths:
                paths.append(default)
            folder_paths.folder_names_and_paths[name] = (paths, set(old_exts) | exts)
        else:
            folder_paths.folder_names_and_paths[name] = ([default], exts)


def _list_models(folder: str, is_model_folder) -> list[str]:
    """Files in a model folder plus its sub-folders that are one model each (`is_model_folder(path)`); the files
    inside such a folder belong to it and are not listed on their own."""
    folders = set()
    for root in folder_paths.get_folder_paths(folder):
        if os.path.isdir(root):
            for entry in sorted(os.listdir(root)):
                if is_model_folder(os.path.join(root, entry)):
                    folders.add(entry)
    files = {f for f in folder_paths.get_filename_list(folder)
             if f.replace("\\", "/").split("/", 1)[0] not in folders}
    return sorted(folders | files)


def _model_path(folder: str, name: str) -> str:
    """Full path of a listed model: a model folder or a file."""
    for root in folder_paths.get_folder_paths(folder):
        candidate = os.path.join(root, name)
        if os.path.isdir(candidate):
            return candidate
    return folder_paths.get_full_path_or_raise(folder, name)


def _is_hf_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def list_clap_models() -> list[str]:
    """Audio encoders in models/clap/ and models/audio_encoders/: files plus Hugging Face format folders (a folder
    holding config.json). A name in both folders is listed once and read from models/clap/."""
    names = set()
    for folder in AUDIO_ENCODER_FOLDERS:
        if folder in folder_paths.folder_names_and_paths:
            names.update(_list_models(folder, _is_hf_folder))
    return sorted(names)


def clap_model_path(name: str) -> str:
    """Full path of a listed audio encoder, looked up in models/clap/ first."""
    for folder in AUDIO_ENCODER_FOLDERS:
        if folder not in folder_paths.folder_names_and_paths:
            continue
        for root in folder_paths.get_folder_paths(folder):
            if os.path.isdir(os.path.join(root, name)):
                return os.path.join(root, name)
        found = folder_paths.get_full_path(folder, name)
        if found is not None:
            return found
    return folder_paths.get_full_path_or_raise(CLAP_FOLDER, name)


def list_adapters() -> list[str]:
    """Adapter files in models/audio_adapters/ plus SonicDiffusion pair folders (a folder holding .pt/.pth files,
    listed as its name; the files inside are not listed on their own)."""
    from ..c2d_core.sonic_convert import is_sonic_folder

    return _list_models(ADAPTER_FOLDER, is_sonic_folder)


def adapter_path(name: str) -> str:
    """Full path of a listed adapter: a SonicDiffusion pair folder or a file."""
    return _model_path(ADAPTER_FOLDER, name)


def list_vocabularies() -> list[str]:
    """Label files (.txt) in models/sound_vocabularies/."""
    return sorted(folder_paths.get_filename_list(VOCABULARY_FOLDER))


def vocabulary_path(name: str) -> str:
    return folder_paths.get_full_path_or_raise(VOCABULARY_FOLDER, name)


def list_audiotoken_embedders() -> list[str]:
    return sorted(folder_paths.get_filename_list(AUDIOTOKEN_FOLDER))


def audiotoken_path(name: str) -> str:
    return folder_paths.get_full_path_or_raise(AUDIOTOKEN_FOLDER, name)


def list_gluegen_models() -> list[str]:
    return sorted(folder_paths.get_filename_list(GLUEGEN_FOLDER))


def gluegen_path(name: str) -> str:
    return folder_paths.get_full_path_or_raise(GLUEGEN_FOLDER, name)
