"""Pure domain code: no Azure, HTTP, Redis or WebSocket imports (enforced by ruff)."""
