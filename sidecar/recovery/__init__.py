"""Recovering chats: versions, files, diffs."""
