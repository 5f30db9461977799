"""The ops API's use cases: health, trading control, broker state, the signal journal, markets.

Each module is one family of ``/api`` routes (``functions/ops_*.py`` are their thin HTTP
adapters; ``docs/ops-api.md`` documents every route):

- ``health``: liveness, readiness (Redis, Tables, the queue sender, the Tradovate token,
  contract maps, the worker's heartbeat; each with status and latency) and a detailed report;
- ``control``: the kill switches as a trader steers them (disable/pause, stop = disable and
  flatten, enable), every change journaled with who, when and why, and published;
- ``flatten``: close positions and cancel working orders by queueing ``flat`` signals, so a
  flatten takes the same road as any alert (queue, executor, ledger, exactly once, in order);
- ``broker_state``: accounts, positions, orders and balances from the worker's live cache, or
  from Tradovate REST when the cache is too old or the worker absent;
- ``signals``: the journal and ledger read together, newest first, and one signal's timeline;
- ``market``: the contract maps and quote snapshots.

Budget: a read costs at most one Redis round trip, plus, when the live cache cannot answer, one
Tradovate REST call (a balance for several accounts costs one per account). Nothing here can
place an order except by putting a signal on the queue. Nothing here imports an SDK: the ports
are in ``ports``; ``shared.adapters.ops_redis`` and ``ops_tables`` implement them.
"""
