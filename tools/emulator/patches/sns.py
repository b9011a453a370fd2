"""SNS gap patch: GetTopicAttributes returns the delivery-status attributes.

Why: moto 5.2.5 stores ``<Protocol>Success/FailureFeedback*`` attributes but never returns them, a perpetual diff
on every ``*_feedback_*`` argument of aws_sns_topic.
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.registry import gap


@gap(
    "sns-delivery-status-attributes",
    "CreateTopic/SetTopicAttributes store the delivery-status attributes (<Protocol>SuccessFeedbackRoleArn, "
    "<Protocol>FailureFeedbackRoleArn, <Protocol>SuccessFeedbackSampleRate) on the topic, but "
    "GetTopicAttributes never returns them: perpetual diff on every *_feedback_* argument of aws_sns_topic.",
    "Return the stored delivery-status attributes from GetTopicAttributes, as AWS does.",
)
def _patch_sns_delivery_status_attributes() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto's
    GetTopicAttributes returns the delivery-status attributes it stores."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sns import responses as sr

    names = [
        f"{protocol}{outcome}"
        for protocol in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
        for outcome in ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate")
    ]
    original = sr.SNSResponse.get_topic_attributes

    def get_topic_attributes(self: Any) -> Any:
        result = original(self)
        topic = self.backend.get_topic(self._get_param("TopicArn"))
        attributes = result.result["Attributes"]
        for name in names:
            value = getattr(topic, camelcase_to_underscores(name), None)
            if value not in (None, ""):
                attributes[name] = str(value)
        return result

    sr.SNSResponse.get_topic_attributes = get_topic_attributes


#: This module's patches, in the order they are applied.
PATCHES = (_patch_sns_delivery_status_attributes,)
