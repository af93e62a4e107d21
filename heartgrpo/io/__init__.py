"""heartgrpo.io: the transport layer at the bottom of the house.

OpenAI-compatible endpoints (:mod:`~heartgrpo.io.endpoint`, replicas in :mod:`~heartgrpo.io.pool`),
retry policy, asyncio helpers, the one SQLite store, the one JSONL reader and writer, the data-side
chat client, the loopback servers tests talk to, and which process rank this is. Nothing here
imports another heartgrpo package except :mod:`heartgrpo.config` settings types.
"""
