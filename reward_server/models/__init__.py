"""The reward models: what a message is worth, given the LLM's answers.

``retrieval`` (the label is the reward, cut by ``calibration``), ``classification`` (a
classifier distilled from the labels) and ``ranking`` (Bradley–Terry from preferences), the
hashed n-gram ``features`` they share, and the background ``trainer`` that refits and
republishes the learned ones. They take answers as plain records (``reward_server.storage``)
and know nothing of prompts, LLMs or HTTP.

May import: storage, schemas. Not judging, service, api or aiohttp.
"""
