"""Ways to steer the player without touching its internals: each turns input into player commands."""
