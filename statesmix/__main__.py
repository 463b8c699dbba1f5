"""python -m statesmix: the command line tool (see statesmix.cli)."""
import sys

from statesmix.cli import main

if __name__ == "__main__":
    sys.exit(main())
