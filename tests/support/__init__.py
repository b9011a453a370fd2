"""The processor's test rig: helpers the processor tests, `make pipeline` and bench/ share.

Modules:

* ``tests.support.servers``     -- throwaway TLS CA, local redis-server and PostgreSQL (``RedisServer``,
  ``PostgresServer``, ``TestCA``).
* ``tests.support.fake_tls``    -- TLS fakes for the rig's negative cases.
* ``tests.support.kinesis_esm`` -- a Kinesis event-source mapping emulator (batches, retries, bisect).
* ``tests.support.pipeline``    -- the end-to-end demo on the rig (`make pipeline`).
* ``tests.support.fixtures``    -- pytest fixtures over the above.

The Terraform harness and the AWS emulator are in ``tools/`` (the emulator plan, `make plan EMULATOR=1`,
uses them too); the tests import them from there.
"""
