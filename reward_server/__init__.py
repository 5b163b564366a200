"""ONI reward server: LLM annotation of game messages, stored and served as a reward table."""

from reward_server.config import ServerConfig

__all__ = ["ServerConfig"]
