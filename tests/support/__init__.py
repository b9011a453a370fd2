"""Reusable helpers for tests that drive real tools (Terraform CLI, checkov, an AWS emulator).

Modules:

* ``tests.support.terraform``   -- Terraform CLI config from ``TF_PLUGIN_MIRROR``, running terraform with
  captured output and wall times (``TerraformCLI``).
* ``tests.support.emulator``    -- in-process moto server on 127.0.0.1 plus documented patches for moto gaps
  (``start_emulator`` / ``Emulator``).
* ``tests.support.random_provider`` -- a test-only stand-in for hashicorp/random 3.6.3 (``random_password``)
  served from a temporary filesystem mirror when the real provider cannot be installed.

Everything here is plain importable functions/classes: pytest fixtures live in ``tests/e2e/conftest.py``.
"""
