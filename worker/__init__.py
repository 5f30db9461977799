"""The always-on WebSocket worker (App Service, ``python -m worker``).

Module map: ``session`` (the trading and market-data sockets on their threads, hand-off to
the loop), ``states`` (the state machine), ``book`` (the pure account book), ``documents``
(Redis documents and open P&L), ``pipeline`` and ``live_store`` (Redis writes and events),
``recorder`` and ``history`` (Table storage), ``management`` and ``stops`` (breakeven and
trailing stops), ``specs`` (contract terms), ``service`` (supervision and loop tasks),
``health`` (``/healthz``), ``app`` (wiring from settings). Readers use
``shared.services.live_state``.
"""
