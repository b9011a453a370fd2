"""Operational tools for the JapanCart infrastructure project; product targets and tests import them.

* ``python -m tools.plan_report``  -- Markdown risk report for ``terraform show -json`` plans (standard library only).
* ``python -m tools.bootstrap_state`` -- moves the bootstrap stack's state into its bucket.
* ``python -m tools.checkov_gate`` -- the checkov gate over synthesized stacks (`make checkov`; checkov is a dev package).
* ``python -m tools.plan_stack``   -- `make plan EMULATOR=1`: a real plan against the AWS emulator, built on
  ``tools.terraform`` (the Terraform CLI harness) and ``tools.emulator`` (moto, a dev package).
* ``tools/find-provider-mirror.sh`` -- the provider filesystem mirror for the recipes that need one.
"""
