"""Where the checkout's files are, for tests that run commands or read manifests."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "config"
EXAMPLES_DIR = REPO_ROOT / "examples"
