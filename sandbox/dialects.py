"""The sandbox's registered dialects: one line each (see sandbox.dialect for what one is).

The order is the order of their ports (`deskpulse sandbox --port P` serves the first on P, the
next on P+1, ...) and of their env lines.
"""

from __future__ import annotations

from deskpulse.sandbox.dialect import DialectFactory
from deskpulse.sandbox.freshdesk import FreshdeskDialect
from deskpulse.sandbox.klaviyo import KlaviyoDialect
from deskpulse.sandbox.liveagent import LiveAgentDialect
from deskpulse.sandbox.zendesk import ZendeskDialect

DIALECTS: dict[str, DialectFactory] = {
    "zendesk": ZendeskDialect,
    "klaviyo": KlaviyoDialect,
    "liveagent": LiveAgentDialect,
    "freshdesk": FreshdeskDialect,
}
