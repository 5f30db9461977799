// Identities, data services, Key Vault, the function app (Flex Consumption) and the worker
// (App Service B1), with every app setting the code reads. Role assignments: rbac.bicep.
param location string
param tags object
param suffix string
param principalId string
param appInsightsName string
param tradovateBaseUrl string
param tradovateMdWsUrl string
param tradovateUsername string
param tradovateCid string
param tradovateDeviceId string
param paper bool
param strategyIds array
param executeAlwaysReadyInstances int
param executeFunctionName string
param deployWorker bool
param notifyWebhook bool
param notifyWebhookFormat string
param notifyTelegramChatId string
param notifyEmailTo string
param notifyEmailFrom string
param deployEmail bool
param emailDataLocation string
param smtpHost string
param smtpPort int
param smtpUsername string
param smtpPassword bool

// The signals queue. The executor's settings below derive from the same values, so the code's
// view of the queue cannot drift from the queue itself.
var signalsQueue = {
  name: 'signals'
  requiresSession: true
  requiresDuplicateDetection: true
  duplicateDetectionHistoryTimeWindow: 'PT10M'
  maxDeliveryCount: 5
  lockDuration: 'PT20S' // short, so a dead host's sessions free up fast; hosts renew it
  deadLetteringOnMessageExpiration: true
  defaultMessageTimeToLive: 'PT1H'
}
// Seconds for the code (Settings reads integers); they mirror the ISO durations above.
var queueLockDurationS = 20
var queueDuplicateWindowS = 600
var queueMessageTtlS = 3600

var redisPort = 10000 // Azure Managed Redis TLS port (not 6380)
var keyVaultName = 'kv-tb-${suffix}'
var deploymentContainer = 'app-package'

// Key Vault references: the platform resolves them with the app's user-assigned identity.
// (format() rather than a user-defined func: checkov's Bicep parser cannot read func yet.)
var kvRef = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName={0})'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Two identities instead of one: the worker holds a socket to the outside all day, so it gets
// only what it needs (tables, secrets, Redis, telemetry) and cannot enqueue signals or replace
// the function app's code package (Storage Blob Data Owner).
module funcIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'funcIdentity'
  params: {
    name: 'id-func-${suffix}'
    location: location
    tags: tags
  }
}

module workerIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.6.0' = {
  name: 'workerIdentity'
  params: {
    name: 'id-worker-${suffix}'
    location: location
    tags: tags
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.33.0' = {
  name: 'storage'
  params: {
    name: 'sttb${suffix}'
    location: location
    tags: tags
    kind: 'StorageV2'
    skuName: 'Standard_LRS'
    minimumTlsVersion: 'TLS1_2'
    // Identity only: the host, the deployment and the journal all use Entra ID.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    isLocalUserEnabled: false
    supportsHttpsTrafficOnly: true
    requireInfrastructureEncryption: true
    sasExpirationPeriod: '01.00:00:00'
    sasExpirationAction: 'Log'
    // No VNet: Flex host storage and deployment are reached over the public endpoint.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      deleteRetentionPolicyEnabled: true
      deleteRetentionPolicyDays: 7
      containerDeleteRetentionPolicyEnabled: true
      containerDeleteRetentionPolicyDays: 7
      containers: [
        {
          name: deploymentContainer
          publicAccess: 'None'
        }
      ]
    }
  }
}

module serviceBus 'br/public:avm/res/service-bus/namespace:0.17.0' = {
  name: 'serviceBus'
  params: {
    name: 'sb-tradebridge-${suffix}'
    location: location
    tags: tags
    // Standard: Basic has no sessions and no duplicate detection.
    skuObject: {
      name: 'Standard'
    }
    zoneRedundant: false
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    authorizationRules: []
    publicNetworkAccess: 'Enabled'
    managedIdentities: {
      systemAssigned: true
    }
    queues: [
      signalsQueue
    ]
  }
}

// With access keys off, only object ids with an access policy can AUTH (with an Entra token);
// the deployer's lets its local.settings.json (REDIS_AUTH=entra, az login) reach the cache.
// learn.microsoft.com/azure/redis/entra-for-authentication
var appRedisAccess = [
  {
    name: 'func'
    userObjectId: funcIdentity.outputs.principalId
  }
  {
    name: 'worker'
    userObjectId: workerIdentity.outputs.principalId
  }
]
var deployerRedisAccess = empty(principalId) ? [] : [
  {
    name: 'deployer'
    userObjectId: principalId
  }
]

module redis 'br/public:avm/res/cache/redis-enterprise:0.5.1' = {
  name: 'redis'
  params: {
    name: 'redis-tradebridge-${suffix}'
    location: location
    tags: tags
    // Balanced_B0 without high availability: the cache is rebuilt from Tradovate on loss.
    skuName: 'Balanced_B0'
    highAvailability: 'Disabled'
    availabilityZones: []
    minimumTlsVersion: '1.2'
    database: {
      // Entra ID only, TLS only; EnterpriseCluster gives a plain (non-cluster) client one endpoint.
      accessKeysAuthentication: 'Disabled'
      clientProtocol: 'Encrypted'
      clusteringPolicy: 'EnterpriseCluster'
      evictionPolicy: 'VolatileLRU'
      port: redisPort
      accessPolicyAssignments: concat(appRedisAccess, deployerRedisAccess)
    }
  }
}

module keyVault 'br/public:avm/res/key-vault/vault:0.14.0' = {
  name: 'keyVault'
  params: {
    name: keyVaultName
    location: location
    tags: tags
    sku: 'standard'
    // RBAC set explicitly: older API versions default to access policies.
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enableVaultForDeployment: false
    enableVaultForTemplateDeployment: false
    enableVaultForDiskEncryption: false
    // App Service resolves Key Vault references over the public endpoint (no VNet here).
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// E-mail for notifications, only when asked for (docs/notifications.md).
module email 'email.bicep' = if (deployEmail) {
  name: 'email'
  params: {
    tags: tags
    suffix: suffix
    dataLocation: emailDataLocation
  }
}

module rbac 'rbac.bicep' = {
  name: 'rbac'
  params: {
    funcPrincipalId: funcIdentity.outputs.principalId
    workerPrincipalId: workerIdentity.outputs.principalId
    deployerPrincipalId: principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    signalsQueueName: signalsQueue.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: appInsights.name
    communicationServiceName: deployEmail ? email!.outputs.name : ''
  }
}

// Settings both apps read (shared/config.py Settings; names are the first alias of each field).
var commonAppSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  KEY_VAULT_URI: keyVault.outputs.uri
  REDIS_URL: 'rediss://${redis.outputs.hostName}:${redisPort}'
  // Sign in with the app's identity (REDIS_CLIENT_ID): the cache has access keys off.
  REDIS_AUTH: 'entra'
  REDIS_ENTRA_SCOPE: 'https://redis.azure.com/.default'
  TABLE_PREFIX: 'tb'
  LEDGER_TTL_DAYS: '14'
  TablesConnection__serviceUri: storage.outputs.serviceEndpoints.table
  TablesConnection__credential: 'managedidentity'
  TRADOVATE_BASE_URL: tradovateBaseUrl
  TRADOVATE_MD_WS_URL: tradovateMdWsUrl
  TRADOVATE_USERNAME: tradovateUsername
  TRADOVATE_PASSWORD: format(kvRef, 'tradovate-password')
  TRADOVATE_APP_ID: 'Tradebridge'
  TRADOVATE_APP_VERSION: '0.1.0'
  TRADOVATE_CID: tradovateCid
  TRADOVATE_SEC: format(kvRef, 'tradovate-sec')
  TRADOVATE_DEVICE_ID: tradovateDeviceId
  TRADOVATE_REQUEST_TIMEOUT_S: '5'
  TRADOVATE_KEEPALIVE_S: '5'
  TRADOVATE_RETRY_BUDGET_S: '10'
  TRADOVATE_MAX_PENALTY_WAIT_S: '30'
  TRADOVATE_CAPTCHA_BACKOFF_S: '3600'
  TRADOVATE_TOKEN_RENEW_MARGIN_S: '900'
  TRADOVATE_WS_HEARTBEAT_S: '2.5'
  TRADOVATE_WS_SILENCE_S: '15'
  TRADOVATE_WS_RECONNECT_MAX_S: '30'
  TRADOVATE_WS_RECONNECT_BASE_S: '0.5'
  TRADOVATE_WS_STABLE_AFTER_S: '10'
  TRADOVATE_MD_AUTHORIZE_WITH: 'access'
  STRATEGIES_FILE: 'strategies.toml'
  LOG_LEVEL: 'INFO'
  PAPER: paper ? 'true' : 'false'
  // Notifications (docs/notifications.md): both apps notify (the worker within a second). The
  // secrets are Key Vault references only once stored: an unresolved one stops the app.
  NOTIFY_WEBHOOK_URL: notifyWebhook ? format(kvRef, 'notify-webhook-url') : ''
  NOTIFY_WEBHOOK_FORMAT: notifyWebhookFormat
  NOTIFY_TELEGRAM_CHAT_ID: notifyTelegramChatId
  NOTIFY_EMAIL_TO: notifyEmailTo
  NOTIFY_EMAIL_FROM: deployEmail ? email!.outputs.sender : notifyEmailFrom
  NOTIFY_ACS_ENDPOINT: deployEmail ? email!.outputs.endpoint : ''
  SMTP_HOST: smtpHost
  SMTP_PORT: string(smtpPort)
  SMTP_USERNAME: smtpUsername
  SMTP_PASSWORD: smtpPassword ? format(kvRef, 'smtp-password') : ''
  SMTP_STARTTLS: 'true'
  NOTIFY_KINDS: 'all'
  NOTIFY_MIN_SEVERITY: 'info'
  NOTIFY_EMAIL_MIN_SEVERITY: 'critical'
  NOTIFY_DEDUPE_S: '900'
  NOTIFY_RATE_LIMIT: '10'
  NOTIFY_RATE_WINDOW_S: '60'
}

// Webhook secrets, one per strategy, never in the repo or the template.
var webhookSecretSettings = [
  for id in strategyIds: {
    name: 'WEBHOOK_SECRET_${toUpper(replace(id, '-', '_'))}'
    value: format(kvRef, 'webhook-secret-${id}')
  }
]

var functionOnlySettings = {
  // Host storage over the identity (no connection string; shared keys are off).
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: funcIdentity.outputs.clientId
  AzureWebJobsStorage__blobServiceUri: storage.outputs.serviceEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.outputs.serviceEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.outputs.serviceEndpoints.table
  // Ingestion with Entra ID: App Insights has local auth off.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${funcIdentity.outputs.clientId};Authorization=AAD'
  // The worker only propagates the host's trace context; shared/telemetry.py configures the
  // exporter itself (never also PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: double export).
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  OTEL_SERVICE_NAME: 'tradebridge-functions'
  AZURE_CLIENT_ID: funcIdentity.outputs.clientId
  // The identity with a Redis access policy (AUTH <its object id> <token>).
  REDIS_CLIENT_ID: funcIdentity.outputs.clientId
  // Service Bus trigger and sender (connection "ServiceBusConnection").
  ServiceBusConnection__fullyQualifiedNamespace: '${serviceBus.outputs.name}.servicebus.windows.net'
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: funcIdentity.outputs.clientId
  TablesConnection__clientId: funcIdentity.outputs.clientId
  QUEUE_BACKEND: 'servicebus'
  SIGNALS_QUEUE_NAME: signalsQueue.name
  QUEUE_MAX_DELIVERY_COUNT: string(signalsQueue.maxDeliveryCount)
  QUEUE_LOCK_DURATION_S: string(queueLockDurationS)
  QUEUE_DUPLICATE_WINDOW_S: string(queueDuplicateWindowS)
  QUEUE_MESSAGE_TTL_S: string(queueMessageTtlS)
  // Back-off before a transiently failed message is abandoned (the cap x (deliveries - 1) < 120 s).
  QUEUE_RETRY_BACKOFF_BASE_S: '1.0'
  QUEUE_RETRY_BACKOFF_MAX_S: '20.0'
  // Plan only from a cache proven current (wait this long, then read REST); a market order's
  // message completes once its fill is known (cache first, then REST, then "unconfirmed").
  EXECUTOR_VIEW_WAIT_MS: '150'
  EXECUTOR_FILL_CACHE_S: '1.0'
  EXECUTOR_FILL_TIMEOUT_S: '5.0'
  // Webhook tunables (TradingView's own IPs are built in; add more comma-separated).
  WEBHOOK_EXTRA_ALLOWED_IPS: ''
  WEBHOOK_MAX_BODY_BYTES: '65536'
  WEBHOOK_JOURNAL_TIMEOUT_S: '0.25'
  // Timers (NCRONTAB, UTC; the bindings read them as %NAME%) and roll-policy overrides.
  CONTRACT_REFRESH_SCHEDULE: '0 */15 * * * *'
  TOKEN_REFRESH_SCHEDULE: '0 */5 * * * *'
  RECONCILE_SCHEDULE: '30 */5 * * * *'
  LEDGER_MIRROR_SCHEDULE: '15 * * * * *'
  DLQ_WATCH_SCHEDULE: '*/30 * * * * *'
  CONTRACT_ROLL_OVERRIDES: ''
  // Notifications: drain the feed, watch the worker (WORKER_STALE_S 0 = no worker to watch).
  NOTIFY_SCHEDULE: '*/15 * * * * *'
  WATCHDOG_SCHEDULE: '*/30 * * * * *'
  WORKER_STALE_S: deployWorker ? '120' : '0'
  SOCKET_DOWN_S: '60'
}

var workerOnlySettings = {
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${workerIdentity.outputs.clientId};Authorization=AAD'
  OTEL_SERVICE_NAME: 'tradebridge-worker'
  AZURE_CLIENT_ID: workerIdentity.outputs.clientId
  REDIS_CLIENT_ID: workerIdentity.outputs.clientId
  TablesConnection__clientId: workerIdentity.outputs.clientId
  // Oryx installs requirements.txt on deploy.
  SCM_DO_BUILD_DURING_DEPLOYMENT: 'true'
}

var functionAppSettings = union(commonAppSettings, functionOnlySettings)
var workerAppSettings = union(commonAppSettings, workerOnlySettings)
// App Service takes name/value pairs.
var functionAppSettingList = [for item in items(functionAppSettings): { name: item.key, value: item.value }]
var workerAppSettingList = [for item in items(workerAppSettings): { name: item.key, value: item.value }]

module sites 'sites.bicep' = {
  name: 'sites'
  dependsOn: [rbac]
  params: {
    location: location
    tags: tags
    suffix: suffix
    funcIdentityId: funcIdentity.outputs.resourceId
    workerIdentityId: workerIdentity.outputs.resourceId
    deploymentContainerUrl: '${storage.outputs.serviceEndpoints.blob}${deploymentContainer}'
    functionAppSettings: concat(functionAppSettingList, webhookSecretSettings)
    workerAppSettings: workerAppSettingList
    executeAlwaysReadyInstances: executeAlwaysReadyInstances
    executeFunctionName: executeFunctionName
    deployWorker: deployWorker
  }
}

output functionAppName string = sites.outputs.functionAppName
output functionAppHostname string = sites.outputs.functionAppHostname
output workerAppName string = sites.outputs.workerAppName
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output serviceBusNamespaceName string = serviceBus.outputs.name
output serviceBusFqdn string = '${serviceBus.outputs.name}.servicebus.windows.net'
output signalsQueueName string = signalsQueue.name
output tablesServiceUri string = storage.outputs.serviceEndpoints.table
output redisHostname string = redis.outputs.hostName
