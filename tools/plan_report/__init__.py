"""Markdown risk report for Terraform plans, for review in pull requests (``python -m tools.plan_report``; usage
and exit codes in ``cli``). Split along its seams, each module importing only those before it: ``model`` (what a
plan is read into), ``markdown`` (escaping), ``diff`` (how a value and its change are shown), ``plan`` (reading
``terraform show -json`` files), ``risk`` (what is red), ``render`` (the report), ``cli`` (arguments, exit code).
Standard library only, so CI runs the base branch's copy with nothing installed. Import from the modules; this
file re-exports nothing.
"""
