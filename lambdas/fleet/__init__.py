"""Device Fleet's domain code: tables, cache, and the services behind the four functions."""
