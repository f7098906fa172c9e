"""GlueGen's sound path in its authors' own code, as the parity reference (tests only; nothing shipped imports it).

Sources (read from bare mirrors at HEAD):
- AudioCLIP: AndreyGuzhov/AudioCLIP @ 45327aa203839bfeb58681dd36c04fd493ee72f4, MIT, Copyright (c) 2021 Andrey Guzhov
  (LICENSE_AudioCLIP.md = its LICENSE.md).
- GlueGen: salesforce/GlueGen @ 4159352d888d3cafb8f6ac666f0275dce0d885ce, Apache-2.0, Copyright (c) 2023 Salesforce, Inc.
  (LICENSE_GlueGen.txt = its LICENSE.txt).

Copied files (their logic unchanged; every changed line carries a `# gluegen_reference:` comment saying what it was,
and line numbers are kept so citations to the originals still hold):
- attention.py  = AudioCLIP model/esresnet/attention.py, byte-for-byte.
- base.py       = AudioCLIP model/esresnet/base.py. Changes: `import termcolor` commented out (used only by
                  `_reset_attention`/`load_pretrained`, reached only with pretrained=True, never here);
                  `import ignite_trainer as it` -> `from . import _interfaces as it`;
                  `from model.esresnet import attention` -> `from . import attention`;
                  `from utils.transforms import scale` -> `from .transforms import scale`.
- fbsp.py       = AudioCLIP model/esresnet/fbsp.py. Changes: `from utils import transforms` -> `from . import transforms`;
                  `from model.esresnet.base import _ESResNet` / `Bottleneck` -> `from .base import ...`.
- transforms.py = AudioCLIP utils/transforms.py (identical to GlueGen's vendored stable-diffusion/audioclip/utils/transforms.py).
                  Change: `import ignite_trainer as it` -> `from . import _interfaces as it`.
- _interfaces.py = AudioCLIP ignite_trainer/_interfaces.py, byte-for-byte (the `AbstractNet`/`AbstractTransform` base
                  classes; importing the real `ignite_trainer` package would pull in pytorch-ignite, visdom, etc.).
- translators.py = GlueGen stable-diffusion/ldm/modules/encoders/translators.py (the inference `Translator_w_head`,
                  NOT sound-gluenet/model.py's same-named class). Change: `from ldm.modules.x_transformer import
                  AttentionLayers` commented out (only `Translator_attn`, not on the sound path, uses it).
GlueGen's vendored AudioCLIP model files differ from AudioCLIP's only in `audioclip.`-prefixed imports, so AudioCLIP's
are used. No copied file hard-codes a device; the only "cuda" on this path is `FrozenAudioCLIPEmbedder.tensor_norm`
(`.to(device)`, device="cuda", GlueGen modules.py:325,336), whose literal reference.py keeps on CPU as `TENSOR_NORM`.

Not copied (not on the sound path, or replaced by quoted lines in reference.py): AudioCLIP's CLIP text/vision model,
`AudioCLIP` class, tokenizer, ignite_trainer; GlueGen's `FrozenAudioCLIPEmbedder` (its forward, the L2 norm of
AudioCLIP.forward, the `tensor_norm` literal, the dataset `_load_worker` steps after librosa resampling, and the
sound+text token mix are quoted line-for-line in reference.py with their source lines).

reference.py exposes: their_audio_tower, their_translator (randomised, eval), TENSOR_NORM, audioclip_file_state,
their_prepare, their_audio_embedding, their_condition, their_text_mix.
"""
