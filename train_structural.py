#!/usr/bin/env python3
"""Old structural training script, kept as a shim: its old flags run the new trainer (see
README, Legacy)."""

import sys
from pathlib import Path

from inktrace.cli.old_scripts import structural_main

if __name__ == "__main__":
    sys.exit(
        structural_main(default_config=Path(__file__).resolve().parent / "configs" / "default.yaml")
    )
