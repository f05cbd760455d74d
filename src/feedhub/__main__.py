"""Entry point for ``python -m feedhub``."""

from feedhub.cli import main

if __name__ == "__main__":
    main()
