"""The range models compute in: XGBoost reads features as float32."""

from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
