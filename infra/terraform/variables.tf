variable "subscription_id" {
  description = "Azure subscription to deploy into (azurerm 4.x requires it explicitly)."
  type        = string
}

variable "environment_name" {
  description = "Short environment name; part of every resource name (azd's AZURE_ENV_NAME)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment_name))
    error_message = "Use 2-16 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "location" {
  description = "Azure region for every resource."
  type        = string
}

variable "principal_id" {
  description = "Object id of the person or pipeline deploying; gets Key Vault Secrets Officer so it can store the secrets, and a Redis access policy so its local.settings.json can reach the cache. Empty to skip."
  type        = string
  default     = ""
}

variable "alert_email" {
  description = "Where alert notifications go."
  type        = string
}

variable "tradovate_base_url" {
  description = "Tradovate REST base URL: demo by default; live is https://live.tradovateapi.com/v1."
  type        = string
  default     = "https://demo.tradovateapi.com/v1"
}

variable "tradovate_md_ws_url" {
  description = "Tradovate market-data WebSocket URL."
  type        = string
  default     = "wss://md.tradovateapi.com/v1/websocket"
}

variable "tradovate_username" {
  description = "Tradovate user name (not a secret; the password lives in Key Vault)."
  type        = string
}

variable "tradovate_cid" {
  description = "Tradovate API key client id (cid); the secret (sec) lives in Key Vault."
  type        = string
}

variable "tradovate_device_id" {
  description = "Stable device id this deployment presents to Tradovate."
  type        = string
}

variable "paper" {
  description = "Paper mode: true until you have rehearsed on demo."
  type        = bool
  default     = true
}

variable "strategy_ids" {
  description = "Strategy ids; each gets WEBHOOK_SECRET_<ID> resolved from Key Vault secret webhook-secret-<id>."
  type        = list(string)
  default     = ["default"]

  validation {
    condition     = alltrue([for id in var.strategy_ids : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", id))])
    error_message = "Strategy ids are lowercase letters, digits and hyphens."
  }
}

variable "execute_always_ready_instances" {
  description = "Always-ready instances for the queue-triggered execution function (0 = cold start on the first signal after idle; saves about $5.3/month)."
  type        = number
  default     = 1
}

variable "execute_function_name" {
  description = "Name of the Service Bus-triggered execution function, for its always-ready group."
  type        = string
  default     = "execute"
}

variable "deploy_worker" {
  description = "Deploy the always-on WebSocket worker (App Service B1). false is the lean option."
  type        = bool
  default     = true
}
