"""``python -m vi_derivations``: see :mod:`vi_derivations.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
