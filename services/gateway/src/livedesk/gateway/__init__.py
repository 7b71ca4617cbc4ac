"""Livedesk gateway service."""
