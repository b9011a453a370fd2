"""Kinesis -> Redis (24 h history) + PostgreSQL (permanent) transaction processor.

Lambda entry point: ``processor.handler.handle``.
"""
