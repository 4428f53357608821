"""The chat indexer: turns SillyTavern chat files into catalog rows and per-extension data rows."""
