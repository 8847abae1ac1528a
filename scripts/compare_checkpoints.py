#!/usr/bin/env python3
"""Compare InkTrace checkpoints (any format) side by side: scripts/compare_checkpoints.py A B
[C ...]."""

import sys

from inktrace.cli.checkpoints import compare_main

if __name__ == "__main__":
    sys.exit(compare_main(prog="compare_checkpoints.py"))
