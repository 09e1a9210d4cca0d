"""`python -m taskstream ...` is the `taskstream` command."""

from taskstream.cli import main

if __name__ == "__main__":
    main()
