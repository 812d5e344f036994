"""The bedside box: config, scheduler and the core that owns at most one playback at a time."""
