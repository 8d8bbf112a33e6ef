"""Deployable policies: the generalist's network and the self-contained export format."""
