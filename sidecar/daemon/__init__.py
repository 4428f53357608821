"""The long-running service: process lifecycle, systemd integration, health."""
