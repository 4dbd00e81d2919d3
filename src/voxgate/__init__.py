"""voxgate: a self-hostable unified audio AI gateway."""

__version__ = "0.1.0"
