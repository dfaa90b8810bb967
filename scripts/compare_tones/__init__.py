"""scripts/compare-tones: EchoStream's tone detector against icad_tone_detection
and multimon-ng on one generated test set (see that script's --help)."""
