"""Everything that makes samples: synthesized tones, bells and ambience, clips, speech."""
