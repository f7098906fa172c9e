"""AudioToken's own code (guyyariv/AudioToken, commit ab7d280, MIT: see LICENSE here), as the parity reference.

Tests only; nothing shipped imports it. Copied unchanged except the package-relative imports:
BEATs.py, backbone.py, modules.py (Microsoft's BEATs, MIT, as vendored by AudioToken), embedder.py
(`FGAEmbedder`) and atten.py (FGA's `Atten`).
"""
