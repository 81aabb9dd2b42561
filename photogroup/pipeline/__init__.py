"""Use cases: what a command does, composed from crawl, db and ml."""
