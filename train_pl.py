#!/usr/bin/env python3
"""The old Lightning entry point of the training guide: now train.py's command line and trainers."""

import sys

from inktrace.cli.train import main

if __name__ == "__main__":
    sys.exit(main(prog="train_pl.py"))
