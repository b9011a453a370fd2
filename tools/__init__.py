"""Operational tools for the JapanCart infrastructure project (standard library only).

* ``python -m tools.plan_report`` -- Markdown risk report for ``terraform show -json`` plans.
"""
