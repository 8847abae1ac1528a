#!/usr/bin/env python3
"""Unified InkTrace training entry point. See README.md and `python train.py --help`."""

import sys

from inktrace.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
