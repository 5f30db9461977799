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

# --- notifications (docs/notifications.md) ------------------------------------------------------

variable "notify_webhook" {
  description = "Notifications: true once Key Vault holds the chat webhook URL as secret notify-webhook-url."
  type        = bool
  default     = false
}

variable "notify_webhook_format" {
  description = "Notifications: the webhook body format: auto (from the URL), json, discord, slack or telegram."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "json", "discord", "slack", "telegram"], var.notify_webhook_format)
    error_message = "Use auto, json, discord, slack or telegram."
  }
}

variable "notify_telegram_chat_id" {
  description = "Notifications: the chat a Telegram bot posts in (Telegram only)."
  type        = string
  default     = ""
}

variable "notify_email_to" {
  description = "Notifications: e-mail recipients, comma-separated (empty = no e-mail)."
  type        = string
  default     = ""
}

variable "notify_email_from" {
  description = "Notifications: the e-mail sender for SMTP (with deploy_email, the managed domain's DoNotReply address)."
  type        = string
  default     = ""
}

variable "deploy_email" {
  description = "Deploy Azure Communication Services Email (an Azure-managed domain) and let both apps send with it."
  type        = bool
  default     = false
}

variable "email_data_location" {
  description = "Where Azure Communication Services keeps e-mail data at rest."
  type        = string
  default     = "United States"
}

variable "smtp_host" {
  description = "Notifications: an SMTP server for e-mail instead of ACS (empty = none)."
  type        = string
  default     = ""
}

variable "smtp_port" {
  description = "Notifications: the SMTP port (587 STARTTLS, 465 TLS)."
  type        = number
  default     = 587
}

variable "smtp_username" {
  description = "Notifications: the SMTP login (empty = no login)."
  type        = string
  default     = ""
}

variable "smtp_password" {
  description = "Notifications: true once Key Vault holds the SMTP password as secret smtp-password."
  type        = bool
  default     = false
}
