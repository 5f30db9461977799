"""Read TradingView alert bodies in every supported format into one normalised ``Signal``.

Pure code: standard library and ``shared.domain`` only. ``parse_alert`` is the entry point;
``registry`` lists the formats; one module per format; ``coerce``, ``fields``, ``common``,
``orders`` and ``positions`` (the strategy's position placeholders, one rule for every format)
are shared; ``products`` lists the futures roots the webhook accepts;
``text`` makes the untrusted body safe (linear-time scans, surrogates, control characters)
before any reader sees it.
"""

from shared.domain.alerts.parser import MAX_BODY_CHARS, ParsedAlert, parse_alert
from shared.domain.alerts.rate_group import RateGroup
from shared.domain.alerts.registry import FORMAT_NAMES

__all__ = ["FORMAT_NAMES", "MAX_BODY_CHARS", "ParsedAlert", "RateGroup", "parse_alert"]
