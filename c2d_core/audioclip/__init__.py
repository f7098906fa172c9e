"""AudioCLIP's audio tower (AndreyGuzhov/AudioCLIP, MIT): ESResNeXt-fbsp in pure torch; GlueGen's audio encoder."""
