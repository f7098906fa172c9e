"""ImageBind's audio modality (facebookresearch/ImageBind, weights CC BY-NC-SA 4.0): `tower` (the network),
`fbank` (its audio input), `encoder` (the pack's AudioEncoder and file format)."""
