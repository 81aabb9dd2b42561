"""Finding photo files and decoding them (no models, no database)."""
