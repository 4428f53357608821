"""SQLite storage: engines, schemas, the registry of extension databases."""
