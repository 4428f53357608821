"""What sidecar knows about SillyTavern's files on disk; no database or HTTP code here."""
