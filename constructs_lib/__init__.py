"""Reusable constructs of the JapanCart transaction monitoring system.

Each construct takes one frozen, validated props object and exposes typed attributes;
none reads the environment or names an environment itself.
"""
