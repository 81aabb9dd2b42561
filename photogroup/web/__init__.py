"""The local web front end: review questions, people, and a JSON API (standard library
http.server; one HTML page with plain JavaScript)."""
