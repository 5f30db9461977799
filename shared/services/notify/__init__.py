"""Turn Tradebridge's events into messages to the trader: a webhook (Discord, Slack, Telegram or
plain JSON) and e-mail.

How an event becomes a message::

    publisher ──PUBLISH + XADD (one round trip)──▶ {notify}:feed (stream, consumer group)
                                                        │  XREADGROUP / XAUTOCLAIM
                                                        ▼
    Notifier: classify (classify.py) ─▶ policy (kinds, minimum severity per channel)
              ─▶ gate (de-duplicate, rate-limit, fold the excess into one summary; Redis)
              ─▶ render (render.py, account numbers masked) ─▶ Sender (bounded retries)
              ─▶ the channel's record ({notify}:status:CHANNEL, shown by /api/health)

The watchdog (watchdog.py) turns the worker's heartbeat into ``system.health`` events, once per
transition. Nothing here imports Redis or HTTP: the adapters are ``shared.adapters.notify_*``.
"""
