# Tradebridge on Azure: the same resources and settings as infra/bicep (tests/infra proves it).
# Facts and prices: README "Deploy" section; decisions are commented where they are made.

data "azurerm_client_config" "current" {}

locals {
  # Stable per subscription + environment + region, like Bicep's uniqueString().
  suffix = substr(sha256("${data.azurerm_client_config.current.subscription_id}-${var.environment_name}-${var.location}"), 0, 8)
  tags = {
    "azd-env-name" = var.environment_name
    "app"          = "tradebridge"
  }

  # The signals queue. The executor's settings below are derived from the same values, so the
  # code's view of the queue cannot drift from the queue itself.
  signals_queue = {
    name                                    = "signals"
    requires_session                        = true
    requires_duplicate_detection            = true
    duplicate_detection_history_time_window = "PT10M"
    max_delivery_count                      = 5
    lock_duration                           = "PT20S" # short, so a dead host's sessions free up fast; hosts renew it
    dead_lettering_on_message_expiration    = true
    default_message_ttl                     = "PT1H"
  }
  # Seconds for the code (Settings reads integers); they mirror the ISO durations above.
  queue_lock_duration_s    = 20
  queue_duplicate_window_s = 600
  queue_message_ttl_s      = 3600

  redis_port = 10000 # Azure Managed Redis TLS port (not 6380)

  # Key Vault references: the platform resolves them with the app's user-assigned identity.
  kv_ref = "@Microsoft.KeyVault(VaultName=${azurerm_key_vault.main.name};SecretName=%s)"

  # Settings both apps read (shared/config.py Settings; names are the first alias of each field).
  common_app_settings = {
    APPLICATIONINSIGHTS_CONNECTION_STRING = azurerm_application_insights.main.connection_string
    KEY_VAULT_URI                         = azurerm_key_vault.main.vault_uri
    REDIS_URL                             = "rediss://${azurerm_managed_redis.main.hostname}:${local.redis_port}"
    REDIS_AUTH                            = "entra" # the app's identity (REDIS_CLIENT_ID); access keys are off
    REDIS_ENTRA_SCOPE                     = "https://redis.azure.com/.default"
    TABLE_PREFIX                          = "tb"
    LEDGER_TTL_DAYS                       = "14"
    TablesConnection__serviceUri          = azurerm_storage_account.main.primary_table_endpoint
    TablesConnection__credential          = "managedidentity"
    TRADOVATE_BASE_URL                    = var.tradovate_base_url
    TRADOVATE_MD_WS_URL                   = var.tradovate_md_ws_url
    TRADOVATE_USERNAME                    = var.tradovate_username
    TRADOVATE_PASSWORD                    = format(local.kv_ref, "tradovate-password")
    TRADOVATE_APP_ID                      = "Tradebridge"
    TRADOVATE_APP_VERSION                 = "0.1.0"
    TRADOVATE_CID                         = var.tradovate_cid
    TRADOVATE_SEC                         = format(local.kv_ref, "tradovate-sec")
    TRADOVATE_DEVICE_ID                   = var.tradovate_device_id
    TRADOVATE_REQUEST_TIMEOUT_S           = "5"
    TRADOVATE_KEEPALIVE_S                 = "5"
    TRADOVATE_RETRY_BUDGET_S              = "10"
    TRADOVATE_MAX_PENALTY_WAIT_S          = "30"
    TRADOVATE_CAPTCHA_BACKOFF_S           = "3600"
    TRADOVATE_TOKEN_RENEW_MARGIN_S        = "900"
    TRADOVATE_WS_HEARTBEAT_S              = "2.5"
    TRADOVATE_WS_SILENCE_S                = "15"
    TRADOVATE_WS_RECONNECT_MAX_S          = "30"
    TRADOVATE_WS_RECONNECT_BASE_S         = "0.5"
    TRADOVATE_WS_STABLE_AFTER_S           = "10"
    TRADOVATE_MD_AUTHORIZE_WITH           = "access"
    STRATEGIES_FILE                       = "strategies.toml"
    LOG_LEVEL                             = "INFO"
    PAPER                                 = var.paper ? "true" : "false"
    # Notifications (docs/notifications.md): both apps notify (the worker within a second). The
    # secrets are Key Vault references only once stored: an unresolved one stops the app.
    NOTIFY_WEBHOOK_URL        = var.notify_webhook ? format(local.kv_ref, "notify-webhook-url") : ""
    NOTIFY_WEBHOOK_FORMAT     = var.notify_webhook_format
    NOTIFY_TELEGRAM_CHAT_ID   = var.notify_telegram_chat_id
    NOTIFY_EMAIL_TO           = var.notify_email_to
    NOTIFY_EMAIL_FROM         = local.notify_email_from
    NOTIFY_ACS_ENDPOINT       = local.notify_acs_endpoint
    SMTP_HOST                 = var.smtp_host
    SMTP_PORT                 = tostring(var.smtp_port)
    SMTP_USERNAME             = var.smtp_username
    SMTP_PASSWORD             = var.smtp_password ? format(local.kv_ref, "smtp-password") : ""
    SMTP_STARTTLS             = "true"
    NOTIFY_KINDS              = "all"
    NOTIFY_MIN_SEVERITY       = "info"
    NOTIFY_EMAIL_MIN_SEVERITY = "critical"
    NOTIFY_DEDUPE_S           = "900"
    NOTIFY_RATE_LIMIT         = "10"
    NOTIFY_RATE_WINDOW_S      = "60"
  }

  # Webhook secrets, one per strategy, never in the repo or the template.
  webhook_secret_settings = {
    for id in var.strategy_ids : "WEBHOOK_SECRET_${upper(replace(id, "-", "_"))}" => format(local.kv_ref, "webhook-secret-${id}")
  }

  function_app_settings = {
    # Host storage over the identity (no connection string; shared keys are off).
    AzureWebJobsStorage__credential      = "managedidentity"
    AzureWebJobsStorage__clientId        = azurerm_user_assigned_identity.func.client_id
    AzureWebJobsStorage__blobServiceUri  = azurerm_storage_account.main.primary_blob_endpoint
    AzureWebJobsStorage__queueServiceUri = azurerm_storage_account.main.primary_queue_endpoint
    AzureWebJobsStorage__tableServiceUri = azurerm_storage_account.main.primary_table_endpoint
    # azurerm writes a key-based AzureWebJobsStorage unless it is overridden with an empty value
    # (provider PR 29099); the __ settings above are what the host uses.
    AzureWebJobsStorage = ""
    # Ingestion with Entra ID: App Insights has local auth off.
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.func.client_id};Authorization=AAD"
    # The worker only propagates the host's trace context; shared/telemetry.py configures the
    # exporter itself (never also PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: double export).
    PYTHON_ENABLE_OPENTELEMETRY = "true"
    OTEL_SERVICE_NAME           = "tradebridge-functions"
    AZURE_CLIENT_ID             = azurerm_user_assigned_identity.func.client_id
    REDIS_CLIENT_ID             = azurerm_user_assigned_identity.func.client_id # has the Redis access policy
    # Service Bus trigger and sender (connection "ServiceBusConnection").
    ServiceBusConnection__fullyQualifiedNamespace = "${azurerm_servicebus_namespace.main.name}.servicebus.windows.net"
    ServiceBusConnection__credential              = "managedidentity"
    ServiceBusConnection__clientId                = azurerm_user_assigned_identity.func.client_id
    TablesConnection__clientId                    = azurerm_user_assigned_identity.func.client_id
    QUEUE_BACKEND                                 = "servicebus"
    SIGNALS_QUEUE_NAME                            = local.signals_queue.name
    QUEUE_MAX_DELIVERY_COUNT                      = tostring(local.signals_queue.max_delivery_count)
    QUEUE_LOCK_DURATION_S                         = tostring(local.queue_lock_duration_s)
    QUEUE_DUPLICATE_WINDOW_S                      = tostring(local.queue_duplicate_window_s)
    QUEUE_MESSAGE_TTL_S                           = tostring(local.queue_message_ttl_s)
    # Back-off before a transiently failed message is abandoned (the cap x (deliveries - 1) < 120 s).
    QUEUE_RETRY_BACKOFF_BASE_S = "1.0"
    QUEUE_RETRY_BACKOFF_MAX_S  = "20.0"
    # Plan only from a cache proven current (wait this long, then read REST); a market order's
    # message completes once its fill is known (cache first, then REST, then "unconfirmed").
    EXECUTOR_VIEW_WAIT_MS   = "150"
    EXECUTOR_FILL_CACHE_S   = "1.0"
    EXECUTOR_FILL_TIMEOUT_S = "5.0"
    # Webhook tunables (TradingView's own IPs are built in; add more comma-separated).
    WEBHOOK_EXTRA_ALLOWED_IPS = ""
    WEBHOOK_MAX_BODY_BYTES    = "65536"
    WEBHOOK_JOURNAL_TIMEOUT_S = "0.25"
    # Timers (NCRONTAB, UTC; the bindings read them as %NAME%) and roll-policy overrides.
    CONTRACT_REFRESH_SCHEDULE = "0 */15 * * * *"
    TOKEN_REFRESH_SCHEDULE    = "0 */5 * * * *"
    RECONCILE_SCHEDULE        = "30 */5 * * * *"
    LEDGER_MIRROR_SCHEDULE    = "15 * * * * *"
    DLQ_WATCH_SCHEDULE        = "*/30 * * * * *"
    CONTRACT_ROLL_OVERRIDES   = ""
    # Notifications: drain the feed, watch the worker (WORKER_STALE_S 0 = no worker to watch).
    NOTIFY_SCHEDULE   = "*/15 * * * * *"
    WATCHDOG_SCHEDULE = "*/30 * * * * *"
    WORKER_STALE_S    = var.deploy_worker ? "120" : "0"
    SOCKET_DOWN_S     = "60"
  }

  worker_app_settings = {
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.worker.client_id};Authorization=AAD"
    OTEL_SERVICE_NAME                         = "tradebridge-worker"
    AZURE_CLIENT_ID                           = azurerm_user_assigned_identity.worker.client_id
    REDIS_CLIENT_ID                           = azurerm_user_assigned_identity.worker.client_id
    TablesConnection__clientId                = azurerm_user_assigned_identity.worker.client_id
    # Oryx installs requirements.txt on deploy.
    SCM_DO_BUILD_DURING_DEPLOYMENT = "true"
  }
}

resource "azurerm_resource_group" "main" {
  name     = "rg-tradebridge-${var.environment_name}"
  location = var.location
  tags     = local.tags
}

# Two identities instead of one: the worker holds a socket to the outside all day, so it gets
# only what it needs (tables, secrets, Redis, telemetry) and cannot enqueue signals or replace
# the function app's code package (Storage Blob Data Owner).
resource "azurerm_user_assigned_identity" "func" {
  name                = "id-func-${local.suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "worker" {
  name                = "id-worker-${local.suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}
