"""`make bench`: wildcert against certbot on the local stack (see run.py)."""
