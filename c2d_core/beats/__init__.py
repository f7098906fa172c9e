"""BEATs (Microsoft, MIT): the audio encoder of AudioToken, in pure torch."""
