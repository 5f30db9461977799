# Azure Communication Services Email with an Azure-managed domain, for the trader's
# notifications (docs/notifications.md). Only with deploy_email = true; the apps send with their
# managed identities (the role is in rbac.tf), never with a key.

resource "azurerm_email_communication_service" "email" {
  count               = var.deploy_email ? 1 : 0
  name                = "email-tb-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  data_location       = var.email_data_location
  tags                = local.tags
}

# An Azure-managed domain (<guid>.azurecomm.net): no DNS to verify, sends as DoNotReply@ it.
resource "azurerm_email_communication_service_domain" "email" {
  count                            = var.deploy_email ? 1 : 0
  name                             = "AzureManagedDomain"
  email_service_id                 = azurerm_email_communication_service.email[0].id
  domain_management                = "AzureManaged"
  user_engagement_tracking_enabled = false
  tags                             = local.tags
}

resource "azurerm_communication_service" "email" {
  count               = var.deploy_email ? 1 : 0
  name                = "acs-tb-${local.suffix}"
  resource_group_name = azurerm_resource_group.main.name
  data_location       = var.email_data_location
  tags                = local.tags
}

resource "azurerm_communication_service_email_domain_association" "email" {
  count                    = var.deploy_email ? 1 : 0
  communication_service_id = azurerm_communication_service.email[0].id
  email_service_domain_id  = azurerm_email_communication_service_domain.email[0].id
}

locals {
  notify_acs_endpoint = var.deploy_email ? "https://${azurerm_communication_service.email[0].hostname}" : ""
  notify_email_from   = var.deploy_email ? "DoNotReply@${azurerm_email_communication_service_domain.email[0].mail_from_sender_domain}" : var.notify_email_from
}
