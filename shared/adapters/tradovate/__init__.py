"""Talk to Tradovate: REST client, shared token manager and WebSocket sessions.

Module map: ``schemas`` (wire models, Tradovate's names), ``parse`` (wire → domain),
``encode`` (domain → wire), ``classify`` (one answer → data, instruction or error),
``transport`` (pooled HTTP, penalties, throttling), ``auth`` (login/renew), ``token``
(Redis-shared token), ``rest`` (domain-level REST facade), ``frames`` (WebSocket framing),
``ws`` (the socket session), ``streams`` (user sync and quote sessions for the worker),
``client`` (builds them from settings). Nothing here connects at import time.
"""
