"""The toy experiment: a synthetic audio→image task (tone pitch → square colour), its experiment and report, the
shipped bundle a tiny UNet + CLAP + adapter trained on it (`toy/bundle/`), and its pictures (grid, editing).

It proves the trainer learns and shows the pack's nodes steering an image with sound, without real weights. It is
used by the demo, the tests and the benchmarks; neither the nodes nor the trainer import it.
"""
