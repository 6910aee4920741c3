"""refkit_flask: refkit for Flask shops.

>>> from flask import Flask
>>> from refkit_flask import RefKit
>>> app = Flask(__name__)
>>> app.config["REFKIT_SECRET_KEY"] = "x" * 32
>>> app.config["REFKIT_DATABASE_URL"] = "memory://"
>>> refkit = RefKit(app)
"""

from . import signals
from .capture import is_bot, safe_local_path
from .config import DEFAULTS, Settings
from .extension import RefKit
from .state import RefKitState

__all__ = ["DEFAULTS", "RefKit", "RefKitState", "Settings", "is_bot", "safe_local_path", "signals"]
