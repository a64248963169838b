"""Audio stages of the pipeline: encoding PCM to MP3 and working with MP3 frames."""
