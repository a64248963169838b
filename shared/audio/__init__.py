"""Audio stages of the pipeline: rendering a chunk's sentences (render), loudness, time-stretching
(tempo), decoding provider audio (decode), encoding PCM to MP3 (encode) and MP3 frames (mp3)."""
