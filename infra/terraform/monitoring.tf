# Log Analytics + Application Insights (local auth off), the action group, the alert rules and
# the signal-pipeline workbook. Queries live in infra/alerts/*.kql and infra/workbook/ so both
# template sets ship the same text; the metric names come from shared/telemetry_names.py.

locals {
  # name => query file, the measure column the query returns, threshold, severity, cadence.
  log_alerts = {
    function-failures = {
      query     = "function-failures.kql"
      measure   = "failures"
      threshold = 0
      severity  = 1
      frequency = "PT5M"
      window    = "PT5M"
    }
    webhook-latency = {
      query     = "webhook-latency.kql"
      measure   = "p95_ms"
      threshold = 1500
      severity  = 2
      frequency = "PT15M"
      window    = "PT15M"
    }
    websocket-disconnects = {
      query     = "websocket-disconnects.kql"
      measure   = "disconnects"
      threshold = 3
      severity  = 2
      frequency = "PT15M"
      window    = "PT15M"
    }
    redis-errors = {
      query     = "redis-errors.kql"
      measure   = "errors"
      threshold = 0
      severity  = 2
      frequency = "PT15M"
      window    = "PT15M"
    }
    auth-failures = {
      query     = "auth-failures.kql"
      measure   = "failures"
      threshold = 0
      severity  = 1
      frequency = "PT15M"
      window    = "PT15M"
    }
    kill-switch = {
      query     = "kill-switch.kql"
      measure   = "engaged"
      threshold = 0
      severity  = 1
      frequency = "PT15M"
      window    = "PT15M"
    }
  }
}

resource "azurerm_log_analytics_workspace" "main" {
  name                         = "log-tradebridge-${local.suffix}"
  location                     = azurerm_resource_group.main.location
  resource_group_name          = azurerm_resource_group.main.name
  sku                          = "PerGB2018"
  retention_in_days            = 30
  daily_quota_gb               = 1 # stays inside the 5 GB/month free grant
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_application_insights" "main" {
  name                          = "appi-tradebridge-${local.suffix}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  workspace_id                  = azurerm_log_analytics_workspace.main.id
  application_type              = "other"
  retention_in_days             = 30
  local_authentication_disabled = true
  tags                          = local.tags
}

resource "azurerm_monitor_action_group" "main" {
  name                = "ag-tradebridge-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "tradebridge"
  tags                = local.tags

  email_receiver {
    name                    = "trader"
    email_address           = var.alert_email
    use_common_alert_schema = true
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "main" {
  for_each                = local.log_alerts
  name                    = "alert-${each.key}-${local.suffix}"
  resource_group_name     = azurerm_resource_group.main.name
  location                = azurerm_resource_group.main.location
  scopes                  = [azurerm_application_insights.main.id]
  severity                = each.value.severity
  evaluation_frequency    = each.value.frequency
  window_duration         = each.value.window
  auto_mitigation_enabled = true
  tags                    = local.tags

  criteria {
    query                   = file("${path.module}/../alerts/${each.value.query}")
    time_aggregation_method = "Total"
    metric_measure_column   = each.value.measure
    operator                = "GreaterThan"
    threshold               = each.value.threshold

    failing_periods {
      number_of_evaluation_periods             = 1
      minimum_failing_periods_to_trigger_alert = 1
    }
  }

  action {
    action_groups = [azurerm_monitor_action_group.main.id]
  }
}

# Dead letters are a platform metric: it also counts MaxDeliveryCountExceeded, which the code
# never sees.
resource "azurerm_monitor_metric_alert" "dead_letters" {
  name                = "alert-dead-letters-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_servicebus_namespace.main.id]
  severity            = 1
  frequency           = "PT5M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.ServiceBus/namespaces"
    metric_name      = "DeadletteredMessages"
    aggregation      = "Maximum"
    operator         = "GreaterThan"
    threshold        = 0

    dimension {
      name     = "EntityName"
      operator = "Include"
      values   = [local.signals_queue.name]
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.main.id
  }
}

resource "azurerm_application_insights_workbook" "pipeline" {
  # Workbook names must be GUIDs; derive a stable one from the App Insights id.
  name                = uuidv5("url", azurerm_application_insights.main.id)
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  display_name        = "Tradebridge signal pipeline"
  source_id           = lower(azurerm_application_insights.main.id)
  category            = "workbook"
  data_json           = file("${path.module}/../workbook/signal-pipeline.json")
  tags                = local.tags
}
