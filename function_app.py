"""Build the one Functions app and register every blueprint; nothing else happens here.

Importing this module must not connect to anything: the Functions worker imports it to
index the functions, and cold start eats into TradingView's 3-second budget.
"""

import azure.functions as func

from functions import (
    execute_sb,
    notify,
    ops_broker,
    ops_config,
    ops_dlq,
    ops_health,
    ops_http,
    ops_signals,
    ops_trading,
    timers,
    webhook_http,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ops_http.bp)
app.register_functions(ops_health.bp)
app.register_functions(ops_trading.bp)
app.register_functions(ops_broker.bp)
app.register_functions(ops_signals.bp)
app.register_functions(ops_config.bp)
app.register_functions(ops_dlq.bp)
app.register_functions(webhook_http.bp)
app.register_functions(execute_sb.bp)
app.register_functions(timers.bp)
app.register_functions(notify.bp)
