"""ONI reward server: LLM annotation of game messages, stored and served as a reward table."""

from importlib.metadata import PackageNotFoundError, version

from reward_server.config import ServerConfig

try:
    __version__ = version("oni")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["ServerConfig", "__version__"]
