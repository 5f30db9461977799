# Least-privilege role assignments. Role ids are Azure built-ins (names in the comments).
# Every entry here has a twin in infra/bicep/main.bicep (var roleAssignments); tests/infra
# compares them.

locals {
  role_assignments = {
    # --- function app identity ---
    func_sb_sender = {
      scope     = "queue"
      principal = "func"
      role_id   = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39" # Azure Service Bus Data Sender
    }
    func_sb_receiver = {
      scope     = "queue"
      principal = "func"
      role_id   = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0" # Azure Service Bus Data Receiver
    }
    func_blob_owner = {
      scope     = "storage"
      principal = "func"
      role_id   = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b" # Storage Blob Data Owner
    }
    func_queue_contributor = {
      scope     = "storage"
      principal = "func"
      role_id   = "974c5e8b-45b9-4653-ba55-5f855dd0fb88" # Storage Queue Data Contributor
    }
    func_table_contributor = {
      scope     = "storage"
      principal = "func"
      role_id   = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3" # Storage Table Data Contributor
    }
    func_kv_secrets_user = {
      scope     = "keyvault"
      principal = "func"
      role_id   = "4633458b-17de-408a-b874-0445c86b69e6" # Key Vault Secrets User
    }
    func_metrics_publisher = {
      scope     = "appinsights"
      principal = "func"
      role_id   = "3913510d-42f4-4e42-8a64-420c390055eb" # Monitoring Metrics Publisher
    }
    # --- worker identity ---
    worker_table_contributor = {
      scope     = "storage"
      principal = "worker"
      role_id   = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3" # Storage Table Data Contributor
    }
    worker_kv_secrets_user = {
      scope     = "keyvault"
      principal = "worker"
      role_id   = "4633458b-17de-408a-b874-0445c86b69e6" # Key Vault Secrets User
    }
    worker_metrics_publisher = {
      scope     = "appinsights"
      principal = "worker"
      role_id   = "3913510d-42f4-4e42-8a64-420c390055eb" # Monitoring Metrics Publisher
    }
    # --- e-mail notifications (deploy_email): ACS has no narrower built-in role that sends ---
    func_email_sender = {
      scope     = "email"
      principal = "func"
      role_id   = "09976791-48a7-449e-bb21-39d1a415f350" # Communication and Email Service Owner
    }
    worker_email_sender = {
      scope     = "email"
      principal = "worker"
      role_id   = "09976791-48a7-449e-bb21-39d1a415f350" # Communication and Email Service Owner
    }
    # --- the deployer, to store the secrets ---
    deployer_kv_secrets_officer = {
      scope     = "keyvault"
      principal = "deployer"
      role_id   = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" # Key Vault Secrets Officer
    }
  }

  role_scopes = {
    queue       = azurerm_servicebus_queue.signals.id
    storage     = azurerm_storage_account.main.id
    keyvault    = azurerm_key_vault.main.id
    appinsights = azurerm_application_insights.main.id
    email       = var.deploy_email ? azurerm_communication_service.email[0].id : ""
  }

  role_principals = {
    func     = azurerm_user_assigned_identity.func.principal_id
    worker   = azurerm_user_assigned_identity.worker.principal_id
    deployer = var.principal_id
  }
}

resource "azurerm_role_assignment" "main" {
  for_each = {
    # Filter on the variables only: identity principal ids are unknown until apply.
    for key, ra in local.role_assignments : key => ra if(ra.principal != "deployer" || var.principal_id != "") && (ra.scope != "email" || var.deploy_email)
  }
  scope              = local.role_scopes[each.value.scope]
  role_definition_id = "/subscriptions/${data.azurerm_client_config.current.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${each.value.role_id}"
  principal_id       = local.role_principals[each.value.principal]
  # The deployer may be a user or a pipeline; identities are always service principals.
  principal_type = each.value.principal == "deployer" ? null : "ServicePrincipal"
}
