"""Where audio lives: the content-addressed chunk cache."""
