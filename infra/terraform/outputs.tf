# Read by scripts that write local.settings.json and by the deploy workflow.

output "AZURE_LOCATION" {
  value = azurerm_resource_group.main.location
}

output "AZURE_RESOURCE_GROUP" {
  value = azurerm_resource_group.main.name
}

output "FUNCTION_APP_NAME" {
  value = azurerm_function_app_flex_consumption.func.name
}

output "FUNCTION_APP_HOSTNAME" {
  value = azurerm_function_app_flex_consumption.func.default_hostname
}

output "WORKER_APP_NAME" {
  value = var.deploy_worker ? azurerm_linux_web_app.worker[0].name : ""
}

output "KEY_VAULT_NAME" {
  value = azurerm_key_vault.main.name
}

output "KEY_VAULT_URI" {
  value = azurerm_key_vault.main.vault_uri
}

output "SERVICEBUS_NAMESPACE" {
  value = "${azurerm_servicebus_namespace.main.name}.servicebus.windows.net"
}

output "SIGNALS_QUEUE_NAME" {
  value = azurerm_servicebus_queue.signals.name
}

output "TABLES_SERVICE_URI" {
  value = azurerm_storage_account.main.primary_table_endpoint
}

output "REDIS_HOSTNAME" {
  value = azurerm_managed_redis.main.hostname
}

output "APPLICATIONINSIGHTS_CONNECTION_STRING" {
  value = azurerm_application_insights.main.connection_string
  # The connection string is an identifier, not a credential (local auth is off), but azurerm
  # marks it sensitive.
  sensitive = true
}
