"""Chaos Box collection: the replay, the collection run and its progress file."""
