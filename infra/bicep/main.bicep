// Tradebridge on Azure: the same resources and settings as infra/terraform (tests/infra proves it).
// azd reads this file and main.parameters.json; the outputs become azd environment values.
targetScope = 'subscription'

@minLength(2)
@maxLength(16)
@description('Short environment name; part of every resource name (azd AZURE_ENV_NAME).')
param environmentName string

@description('Azure region for every resource.')
param location string

@description('Object id of the person or pipeline deploying; gets Key Vault Secrets Officer to store the secrets and a Redis access policy for its local.settings.json. Empty to skip.')
param principalId string = ''

@description('Where alert notifications go.')
param alertEmail string

@description('Tradovate REST base URL: demo by default; live is https://live.tradovateapi.com/v1.')
param tradovateBaseUrl string = 'https://demo.tradovateapi.com/v1'

@description('Tradovate market-data WebSocket URL.')
param tradovateMdWsUrl string = 'wss://md.tradovateapi.com/v1/websocket'

@description('Tradovate user name (not a secret; the password lives in Key Vault).')
param tradovateUsername string

@description('Tradovate API key client id (cid); the secret (sec) lives in Key Vault.')
param tradovateCid string

@description('Stable device id this deployment presents to Tradovate.')
param tradovateDeviceId string

@description('Paper mode: true until you have rehearsed on demo.')
param paper bool = true

@description('Strategy ids; each gets WEBHOOK_SECRET_<ID> resolved from Key Vault secret webhook-secret-<id>.')
param strategyIds array = ['default']

@description('Always-ready instances for the execution function (0 = cold start after idle; saves about $5.3/month).')
param executeAlwaysReadyInstances int = 1

@description('Name of the Service Bus-triggered execution function, for its always-ready group.')
param executeFunctionName string = 'execute'

@description('Deploy the always-on WebSocket worker (App Service B1). false is the lean option.')
param deployWorker bool = true

// --- notifications (docs/notifications.md) ---------------------------------------------------
@description('Notifications: true once Key Vault holds the chat webhook URL as secret notify-webhook-url.')
param notifyWebhook bool = false

@description('Notifications: the webhook body format: auto (from the URL), json, discord, slack or telegram.')
param notifyWebhookFormat string = 'auto'

@description('Notifications: the chat a Telegram bot posts in (Telegram only).')
param notifyTelegramChatId string = ''

@description('Notifications: e-mail recipients, comma-separated (empty = no e-mail).')
param notifyEmailTo string = ''

@description('Notifications: the e-mail sender for SMTP (with deployEmail, the managed domain\'s DoNotReply address).')
param notifyEmailFrom string = ''

@description('Deploy Azure Communication Services Email (an Azure-managed domain) and let both apps send with it.')
param deployEmail bool = false

@description('Where Azure Communication Services keeps e-mail data at rest.')
param emailDataLocation string = 'United States'

@description('Notifications: an SMTP server for e-mail instead of ACS (empty = none).')
param smtpHost string = ''

@description('Notifications: the SMTP port (587 STARTTLS, 465 TLS).')
param smtpPort int = 587

@description('Notifications: the SMTP login (empty = no login).')
param smtpUsername string = ''

@description('Notifications: true once Key Vault holds the SMTP password as secret smtp-password.')
param smtpPassword bool = false

var tags = {
  'azd-env-name': environmentName
  app: 'tradebridge'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-tradebridge-${environmentName}'
  location: location
  tags: tags
}

module observability 'modules/observability.bicep' = {
  name: 'observability'
  scope: rg
  params: {
    location: location
    tags: tags
    suffix: suffix
  }
}

module app 'modules/app.bicep' = {
  name: 'app'
  scope: rg
  params: {
    location: location
    tags: tags
    suffix: suffix
    principalId: principalId
    appInsightsName: observability.outputs.appInsightsName
    tradovateBaseUrl: tradovateBaseUrl
    tradovateMdWsUrl: tradovateMdWsUrl
    tradovateUsername: tradovateUsername
    tradovateCid: tradovateCid
    tradovateDeviceId: tradovateDeviceId
    paper: paper
    strategyIds: strategyIds
    executeAlwaysReadyInstances: executeAlwaysReadyInstances
    executeFunctionName: executeFunctionName
    deployWorker: deployWorker
    notifyWebhook: notifyWebhook
    notifyWebhookFormat: notifyWebhookFormat
    notifyTelegramChatId: notifyTelegramChatId
    notifyEmailTo: notifyEmailTo
    notifyEmailFrom: notifyEmailFrom
    deployEmail: deployEmail
    emailDataLocation: emailDataLocation
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpPassword: smtpPassword
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    suffix: suffix
    alertEmail: alertEmail
    appInsightsName: observability.outputs.appInsightsName
    serviceBusNamespaceName: app.outputs.serviceBusNamespaceName
    signalsQueueName: app.outputs.signalsQueueName
  }
}

// Stable per subscription + environment + region (Terraform derives its own the same way).
var suffix = substring(uniqueString(subscription().id, environmentName, location), 0, 8)

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = app.outputs.functionAppName
output FUNCTION_APP_HOSTNAME string = app.outputs.functionAppHostname
output WORKER_APP_NAME string = app.outputs.workerAppName
output KEY_VAULT_NAME string = app.outputs.keyVaultName
output KEY_VAULT_URI string = app.outputs.keyVaultUri
output SERVICEBUS_NAMESPACE string = app.outputs.serviceBusFqdn
output SIGNALS_QUEUE_NAME string = app.outputs.signalsQueueName
output TABLES_SERVICE_URI string = app.outputs.tablesServiceUri
output REDIS_HOSTNAME string = app.outputs.redisHostname
output APPLICATIONINSIGHTS_CONNECTION_STRING string = observability.outputs.connectionString
