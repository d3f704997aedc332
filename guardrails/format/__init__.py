"""Answer formatting for Slack: mrkdwn escaping, no mass or user mentions, length, citations."""

from guardrails.format.slack import FormatValidator, repair_citations, slack_safe

__all__ = ["FormatValidator", "repair_citations", "slack_safe"]
