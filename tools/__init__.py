"""Operational tools for the JapanCart infrastructure project; product targets and tests import them.

* ``python -m tools.plan_report``  -- Markdown risk report for ``terraform show -json`` plans (standard library only);
  its in-place damage rules are ``tools.plan_damage``, the plan-reading helpers it shares ``tools.plan_json``.
* ``python tools/change_set.py``   -- a plan's change set: written by the deploy preview, checked before apply.
* ``python tools/destructive_gate.py`` -- the pull request's destructive gate (the label, its approver teams).
* ``python -m tools.bootstrap_state`` -- moves the bootstrap stack's state into its bucket.
* ``python -m tools.policy_gate``  -- the policy gate over synthesized stacks and its allow-list
  (``tools/policy_allowlist.toml``; `make policy-gate`, and in CI before every plan; standard library only).
* ``python -m tools.check_repo_settings`` -- the repository settings the gates rely on (branch protection,
  rulesets, environments), from recorded ``gh api`` responses (standard library only).
* ``python -m tools.checkov_gate`` -- the checkov gate over synthesized stacks (`make checkov`; checkov is a dev package).
* ``python -m tools.plan_stack``   -- `make plan EMULATOR=1`: a real plan against the AWS emulator, built on
  ``tools.terraform`` (the Terraform CLI harness) and ``tools.emulator`` (moto, a dev package).
* ``tools/find-provider-mirror.sh`` -- the provider filesystem mirror for the recipes that need one.
"""
