"""Tools an operator runs against a deployed stream and function, from a workstation; never in the Lambda zip.

* ``python -m operator_tools.replay``  -- re-drives the batches the event source mapping gave up on
  (run as the stack's replay role, output ``replay_role_arn``).
* ``python -m operator_tools.produce`` -- synthetic traffic that trips every rule, for smoke tests.
* ``operator_tools.kinesis_event_builder`` -- rebuilds the Lambda Kinesis event from GetRecords records
  (the replay tool and the tests' event source emulator share it).

They import the runtime (``processor``) for its parsers and names; the runtime imports nothing from here.
"""
