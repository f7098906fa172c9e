from .comfy_api_pin import io, ui

from ..c2d_core.errors import SoundPromptError
from ..c2d_core.sound_tags import (DEFAULT_LABEL_PROMPT, DEFAULT_TEMPLATE, TagSettings, audioset_labels,
                                   parse_vocabulary, read_vocabulary, tag_audio)
from .model_paths import list_vocabularies, vocabulary_path
from .types import CATEGORY, AudioEmbeds, ClapModel

AUDIOSET = "AudioSet (527 labels, CC BY 4.0)"
CUSTOM = "custom (custom_labels below)"


class C2DSoundTags(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DSoundTags",
            display_name="CLAP Sound Tags → Prompt (C2D)",
            category=CATEGORY,
            is_output_node=True,  # shows its tags on the node even with nothing connected
            description="Zero-shot, no adapter: ranks a vocabulary of sound labels by CLAP audio–text similarity and "
                        "writes the best into a text prompt, so a sound drives any model ComfyUI runs (SD1.5, SDXL, "
                        "SD3.5, Flux, Qwen-Image, Wan) through its own text encoder. Default vocabulary: AudioSet's "
                        "527 classes; or a .txt in models/sound_vocabularies/ or your own labels, one per line. With "
                        "a timeline (one embedding per frame) it also gives each frame's prompt and a keyframe "
                        "schedule. Needs a CLAP with its text tower (ImageBind has none).",
            inputs=[
                ClapModel.Input("clap", tooltip="the CLAP that encoded the audio (its text tower embeds the labels)"),
                AudioEmbeds.Input("embeds", tooltip="from CLAP Encode Audio (one row per clip) or Audio Timeline "
                                                    "(one row per frame)"),
                io.Combo.Input("vocabulary", options=[AUDIOSET, CUSTOM] + list_vocabularies(), default=AUDIOSET,
                               tooltip="the labels to choose from"),
                io.String.Input("custom_labels", multiline=True, default="rain\nthunder\nbirds singing\nfire",
                                tooltip="one label per line, used when vocabulary is 'custom'"),
                io.Int.Input("top_k", default=3, min=1, max=20, tooltip="at most this many labels per prompt"),
                io.Float.Input("threshold", default=0.0, min=-1.0, max=1.0, step=0.01,
                               tooltip="keep labels whose cosine similarity is at least this (the best is always "
                                       "kept)"),
                io.String.Input("template", default=DEFAULT_TEMPLATE,
                                tooltip="the prompt around the labels; {labels} is replaced, e.g. "
                                        "'a painting of {labels}, golden hour'"),
                io.String.Input("label_prompt", default=DEFAULT_LABEL_PROMPT,
                                tooltip="how each label is phrased for CLAP's text tower ({label})"),
            ],
            outputs=[
                io.String.Output(display_name="prompt", tooltip="tags of the whole input (rows averaged) in the "
                                                                "template: for CLIP Text Encode"),
                io.String.Output(display_name="frame_prompts", is_output_list=True,
                                 tooltip="one prompt per row (per frame of a timeline)"),
                io.String.Output(display_name="schedule", tooltip='keyframes where the tags change, "frame": '
                                                                  '"prompt" lines (prompt-schedule nodes)'),
                io.String.Output(display_name="scores", tooltip="the chosen labels and their similarities"),
            ],
        )

    @classmethod
    def execute(cls, clap, embeds, vocabulary, custom_labels, top_k, threshold, template,
                label_prompt) -> io.NodeOutput:
        if embeds.clap_model_id != clap.model_id or embeds.clap_dim != clap.embed_dim:
            raise SoundPromptError(f"the audio was encoded by {embeds.clap_model_id} ({embeds.clap_dim}-d) but the "
                                   f"labels would be embedded by {clap.model_id} ({clap.embed_dim}-d): connect the "
                                   "same Load CLAP Model to both")
        if vocabulary == AUDIOSET:
            labels = audioset_labels()
        elif vocabulary == CUSTOM:
            labels = parse_vocabulary(custom_labels, "custom_labels")
        else:
            labels = read_vocabulary(vocabulary_path(vocabulary))
        settings = TagSettings(top_k=top_k, threshold=threshold, template=template)
        tags = tag_audio(clap, embeds.embeds, labels, settings, label_prompt)
        return io.NodeOutput(tags.prompt, tags.frame_prompts, tags.schedule, tags.scores,
                             ui=ui.PreviewText(f"{tags.prompt}\n\n{tags.scores}"))

