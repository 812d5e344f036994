"""relaxplayer: offline guided relaxation sessions, from a YAML script to sound."""

__version__ = "0.1.0"
