"""``make bench``: the batch layer against boto3, PynamoDB and a hand-rolled thread pool.

Run ``python -m bench`` (quick) or ``python -m bench --full``; see docs/bench.md.
"""
