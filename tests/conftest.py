"""Suite-wide settings: nothing here may reach a network.

W&B runs for real but offline (no server is reachable here); Hugging Face
hub lookups fail fast instead of retrying for ~47 s.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
os.environ.pop("WANDB_API_KEY", None)
