"""The reward service: one owner of the store, the annotation queue, the reward model and the
published table, called by the HTTP handlers and by nothing else.

May import: config, judging, models, storage, schemas. Never aiohttp: HTTP stays in ``api``.
"""

from reward_server.service.reward_service import RewardService, annotation_key, judge_config
from reward_server.service.reward_table import RewardTable

__all__ = ["RewardService", "RewardTable", "annotation_key", "judge_config"]
