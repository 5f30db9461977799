# Storage (host + deployment package + journal tables), Service Bus, Redis, Key Vault.

resource "azurerm_storage_account" "main" {
  name                     = "sttb${local.suffix}"
  resource_group_name      = azurerm_resource_group.main.name
  location                 = azurerm_resource_group.main.location
  account_tier             = "Standard"
  account_replication_type = "LRS"
  account_kind             = "StorageV2"
  min_tls_version          = "TLS1_2"
  # Identity only: the host, the deployment and the journal all use Entra ID.
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  allow_nested_items_to_be_public   = false
  local_user_enabled                = false
  https_traffic_only_enabled        = true
  infrastructure_encryption_enabled = true
  public_network_access_enabled     = true # no VNet: Flex host storage is reached publicly
  tags                              = local.tags

  network_rules {
    default_action = "Allow"
    bypass         = ["AzureServices"]
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Log"
  }
}

resource "azurerm_storage_container" "deployments" {
  name                  = "app-package"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

resource "azurerm_servicebus_namespace" "main" {
  name                = "sb-tradebridge-${local.suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  # Standard: Basic has no sessions and no duplicate detection.
  sku                 = "Standard"
  local_auth_enabled  = false
  minimum_tls_version = "1.2"
  # Private endpoints are Premium-only; Standard is reached over TLS with Entra ID.
  public_network_access_enabled = true
  tags                          = local.tags

  identity {
    type = "SystemAssigned"
  }
}

resource "azurerm_servicebus_queue" "signals" {
  name                                    = local.signals_queue.name
  namespace_id                            = azurerm_servicebus_namespace.main.id
  requires_session                        = local.signals_queue.requires_session
  requires_duplicate_detection            = local.signals_queue.requires_duplicate_detection
  duplicate_detection_history_time_window = local.signals_queue.duplicate_detection_history_time_window
  max_delivery_count                      = local.signals_queue.max_delivery_count
  lock_duration                           = local.signals_queue.lock_duration
  dead_lettering_on_message_expiration    = local.signals_queue.dead_lettering_on_message_expiration
  default_message_ttl                     = local.signals_queue.default_message_ttl
}

resource "azurerm_managed_redis" "main" {
  name                = "redis-tradebridge-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  # Balanced_B0 without high availability: the cache is rebuilt from Tradovate on loss.
  sku_name                  = "Balanced_B0"
  high_availability_enabled = false
  tags                      = local.tags

  default_database {
    # Entra ID only, TLS only; EnterpriseCluster gives a plain (non-cluster) client one endpoint.
    access_keys_authentication_enabled = false
    client_protocol                    = "Encrypted"
    clustering_policy                  = "EnterpriseCluster"
    eviction_policy                    = "VolatileLRU"
  }
}

resource "azurerm_managed_redis_access_policy_assignment" "func" {
  managed_redis_id = azurerm_managed_redis.main.id
  object_id        = azurerm_user_assigned_identity.func.principal_id
}

resource "azurerm_managed_redis_access_policy_assignment" "worker" {
  managed_redis_id = azurerm_managed_redis.main.id
  object_id        = azurerm_user_assigned_identity.worker.principal_id
}

# The deployer's local.settings.json signs in with REDIS_AUTH=entra (az login); with access
# keys off only object ids with an access policy can AUTH.
# learn.microsoft.com/azure/redis/entra-for-authentication
resource "azurerm_managed_redis_access_policy_assignment" "deployer" {
  count            = var.principal_id == "" ? 0 : 1
  managed_redis_id = azurerm_managed_redis.main.id
  object_id        = var.principal_id
}

resource "azurerm_key_vault" "main" {
  name                = "kv-tb-${local.suffix}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  sku_name            = "standard"
  # RBAC set explicitly: older API versions default to access policies.
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = 90
  # App Service resolves Key Vault references over the public endpoint (no VNet here).
  public_network_access_enabled   = true
  enabled_for_deployment          = false
  enabled_for_template_deployment = false
  enabled_for_disk_encryption     = false
  tags                            = local.tags

  network_acls {
    default_action = "Allow"
    bypass         = "AzureServices"
  }
}
