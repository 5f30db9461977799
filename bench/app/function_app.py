"""The real blueprints plus a baseline route that only answers 200, for the benchmarks."""

import azure.functions as func

from functions import ops_http, webhook_http

baseline = func.Blueprint()


@baseline.route(route="baseline/{strategy}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def bench_baseline(req: func.HttpRequest) -> func.HttpResponse:
    """Answer 200 and do nothing else: the floor a webhook cannot beat."""
    return func.HttpResponse("{}", status_code=200, mimetype="application/json")


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ops_http.bp)
app.register_functions(webhook_http.bp)
app.register_functions(baseline)
