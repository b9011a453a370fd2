"""Monthly cost of each synthesized stack from a pinned, dated price table (offline; docs/cost.md).

Standard library only: the pull-request workflow runs the BASE branch's copy with a bare Python, as it runs
tools/plan_report/.
"""
