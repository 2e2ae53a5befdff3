"""``python -m effnet`` (also the entry point for ``torchrun -m effnet``)."""

import sys

from effnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
