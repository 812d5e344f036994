"""Allow ``python -m relaxplayer``."""

from relaxplayer.cli import main

if __name__ == "__main__":
    main()
