"""notify's pure rules: its copy of a case, the deliveries an event causes and their transitions, locales.

No I/O and no kit: the worker, the handlers and the HTTP edge call these and commit what they return.
"""

from .cases import CaseStatus, Contact, NotifyCase
from .delivery import (
    CUSTOMER,
    Defer,
    Delivery,
    Fail,
    HoursFor,
    LogEntry,
    Outcome,
    Plan,
    Send,
    SendingHours,
    Skip,
    State,
    Trigger,
    after_attempt,
    backoff_delay,
    notification_id,
)
from .locales import locale_chain
from .messages import Says, Told, deliveries_for
from .rules import CUSTOMER_CHANNELS, ChannelPolicy, DeliveryPolicy, FanOut, Rule, Satisfaction

__all__ = [
    "CUSTOMER",
    "CUSTOMER_CHANNELS",
    "CaseStatus",
    "ChannelPolicy",
    "Contact",
    "Defer",
    "Delivery",
    "DeliveryPolicy",
    "Fail",
    "FanOut",
    "HoursFor",
    "LogEntry",
    "NotifyCase",
    "Outcome",
    "Plan",
    "Rule",
    "Satisfaction",
    "Says",
    "Send",
    "SendingHours",
    "Skip",
    "State",
    "Told",
    "Trigger",
    "after_attempt",
    "backoff_delay",
    "deliveries_for",
    "locale_chain",
    "notification_id",
]
