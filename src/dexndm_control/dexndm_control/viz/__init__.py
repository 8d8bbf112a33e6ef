"""Seeing the hand: the Foxglove live view (``live_view``)."""
