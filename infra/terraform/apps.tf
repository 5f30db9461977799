# The function app (Flex Consumption) and the always-on WebSocket worker (App Service B1).

resource "azurerm_service_plan" "func" {
  name                = "plan-func-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

resource "azurerm_function_app_flex_consumption" "func" {
  name                = "func-tradebridge-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.func.id
  tags                = merge(local.tags, { "azd-service-name" = "functions" })

  storage_container_type            = "blobContainer"
  storage_container_endpoint        = "${azurerm_storage_account.main.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.func.id

  runtime_name    = "python"
  runtime_version = "3.12"
  # 512 MB: the app is I/O bound and always-ready instances are billed per GB-s.
  instance_memory_in_mb  = 512
  maximum_instance_count = 40

  # TradingView gives up after 3 s and a cold Python start takes far longer: keep one HTTP
  # instance warm, and one for the execution function (its own scale group on Flex).
  always_ready {
    name           = "http"
    instance_count = 1
  }
  always_ready {
    name           = "function:${var.execute_function_name}"
    instance_count = var.execute_always_ready_instances
  }

  https_only                                     = true
  public_network_access_enabled                  = true # TradingView must reach the webhook
  webdeploy_publish_basic_authentication_enabled = false
  client_certificate_enabled                     = false # TradingView cannot be asked for mTLS by the key

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.func.id]
  }

  # The provider keeps the connection string in site_config, not app_settings.
  app_settings = {
    for k, v in merge(local.common_app_settings, local.function_app_settings, local.webhook_secret_settings) :
    k => v if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    minimum_tls_version                    = "1.2"
    http2_enabled                          = true
  }
}

# Key Vault references must be resolved with the user-assigned identity; the Flex resource in
# azurerm has no key_vault_reference_identity_id, so set the site property directly.
resource "azapi_update_resource" "func_key_vault_identity" {
  type        = "Microsoft.Web/sites@2024-04-01"
  resource_id = azurerm_function_app_flex_consumption.func.id
  body = {
    properties = {
      keyVaultReferenceIdentity = azurerm_user_assigned_identity.func.id
    }
  }
}

resource "azurerm_service_plan" "worker" {
  count               = var.deploy_worker ? 1 : 0
  name                = "plan-worker-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = "B1"
  worker_count        = 1
  tags                = local.tags
}

resource "azurerm_linux_web_app" "worker" {
  count               = var.deploy_worker ? 1 : 0
  name                = "app-worker-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.worker[0].id
  tags                = merge(local.tags, { "azd-service-name" = "worker" })

  https_only                      = true
  client_affinity_enabled         = false
  client_certificate_enabled      = false # see CKV_AZURE_17 in infra/.checkov.yaml
  key_vault_reference_identity_id = azurerm_user_assigned_identity.worker.id
  # The worker only dials out (Tradovate WebSocket); deployment opens SCM briefly (azure.yaml).
  public_network_access_enabled                  = false
  ftp_publish_basic_authentication_enabled       = false
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.worker.id]
  }

  app_settings = merge(local.common_app_settings, local.worker_app_settings)

  site_config {
    always_on                         = true
    websockets_enabled                = true
    health_check_path                 = "/healthz"
    health_check_eviction_time_in_min = 10
    minimum_tls_version               = "1.2"
    ftps_state                        = "Disabled"
    http2_enabled                     = true
    remote_debugging_enabled          = false
    app_command_line                  = "python -m worker"
    # Nothing may call the main site; SCM keeps its own rules so a deploy can open it briefly.
    ip_restriction_default_action     = "Deny"
    scm_use_main_ip_restriction       = false
    scm_ip_restriction_default_action = "Allow"

    application_stack {
      python_version = "3.12"
    }
  }

  logs {
    detailed_error_messages = true
    failed_request_tracing  = true

    http_logs {
      file_system {
        retention_in_days = 7
        retention_in_mb   = 35
      }
    }
  }
}
