"""The bench-only Functions app of the two forwarders (``bench.forwarding`` says what each
does). The dev host loads it with ``--app-root bench/forwarders``: ``--only http`` serves the
direct forwarder, ``--only queue`` runs the durable forwarder's queue function. Its
``host.json`` is the app's own, so the queue is pumped with the same session settings."""

import azure.functions as func

from bench.forwarding import forward_direct, forward_durable

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("direct_forward")
@app.route(route="forward/{strategy}", methods=["POST"])
async def direct_forward(req: func.HttpRequest) -> func.HttpResponse:
    """Place the alert's orders straight from the HTTP request, then answer."""
    return await forward_direct(req)


@app.function_name("durable_forward")
@app.service_bus_queue_trigger(
    arg_name="msg",
    connection="ServiceBusConnection",
    queue_name="%BENCH_FORWARD_QUEUE%",
    is_sessions_enabled=True,
)
async def durable_forward(msg: func.ServiceBusMessage) -> None:
    """Place one queued signal's order straight away; no facts, ledger or plan."""
    await forward_durable(msg)
