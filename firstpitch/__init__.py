"""firstpitch: real-time MLB game predictions served with BentoML."""

from __future__ import annotations

__version__ = "0.1.0"
