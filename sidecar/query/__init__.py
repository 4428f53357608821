"""Read-side queries over the indexed data (the query API's logic, no HTTP)."""
