"""AudioToken (guyyariv/AudioToken, MIT): BEATs features → one pseudo-word embedding in the CLIP prompt."""
