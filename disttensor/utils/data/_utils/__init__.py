from . import collate  # noqa: F401
from .collate import default_collate, default_convert  # noqa: F401
