terraform {
  required_version = ">= 1.9.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
    }
    # azurerm's Flex Consumption resource has no key_vault_reference_identity_id (checked up to
    # 4.81), so the user-assigned identity for Key Vault references is set through azapi.
    azapi = {
      source  = "Azure/azapi"
      version = "~> 2.5"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # Purge protection is on; never try to purge on destroy.
      purge_soft_delete_on_destroy = false
    }
  }
  # Storage has shared keys disabled, so the provider must use Entra ID for data-plane calls.
  storage_use_azuread = true
  subscription_id     = var.subscription_id
}

provider "azapi" {}
