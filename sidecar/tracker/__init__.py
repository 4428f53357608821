"""The value-tracker domain: characters, instances and their data, in one extension database."""
