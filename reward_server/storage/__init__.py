"""The on-disk store (SQLite, WAL) of messages, LLM answers, checkpoints and the versioned reward
table, and its JSON Lines export/import.

May import: nothing of reward_server but its own modules (records only flow up from here).
"""

from reward_server.storage.lock import StoreError, StoreLocked
from reward_server.storage.store import Annotation, AnnotationKey, Store, StoredPreference, StoreUnreadable

__all__ = ["Annotation", "AnnotationKey", "Store", "StoreError", "StoreLocked", "StoreUnreadable", "StoredPreference"]
