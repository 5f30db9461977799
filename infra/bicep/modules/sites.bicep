// The function app (Flex Consumption FC1) and the always-on WebSocket worker (App Service B1).
param location string
param tags object
param suffix string
param funcIdentityId string
param workerIdentityId string
param deploymentContainerUrl string
param functionAppSettings array
param workerAppSettings array
param executeAlwaysReadyInstances int
param executeFunctionName string
param deployWorker bool

module functionPlan 'br/public:avm/res/web/serverfarm:0.7.0' = {
  name: 'functionPlan'
  params: {
    name: 'plan-func-${suffix}'
    location: location
    tags: tags
    skuName: 'FC1'
    kind: 'functionapp'
    reserved: true
    zoneRedundant: false
  }
}

module functionApp 'br/public:avm/res/web/site:0.24.0' = {
  name: 'functionApp'
  params: {
    name: 'func-tradebridge-${suffix}'
    location: location
    tags: union(tags, { 'azd-service-name': 'functions' })
    kind: 'functionapp,linux'
    serverFarmResourceId: functionPlan.outputs.resourceId
    httpsOnly: true
    publicNetworkAccess: 'Enabled' // TradingView must reach the webhook
    clientCertEnabled: false // TradingView cannot be asked for mTLS by the key
    managedIdentities: {
      userAssignedResourceIds: [funcIdentityId]
    }
    keyVaultAccessIdentityResourceId: funcIdentityId
    basicPublishingCredentialsPolicies: [
      { name: 'ftp', allow: false }
      { name: 'scm', allow: false }
    ]
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: funcIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        // 512 MB: the app is I/O bound and always-ready instances are billed per GB-s.
        instanceMemoryMB: 512
        maximumInstanceCount: 40
        // TradingView gives up after 3 s and a cold Python start takes far longer: keep one
        // HTTP instance warm, and one for the execution function (its own scale group on Flex).
        alwaysReady: [
          { name: 'http', instanceCount: 1 }
          { name: 'function:${executeFunctionName}', instanceCount: executeAlwaysReadyInstances }
        ]
      }
      runtime: {
        name: 'python'
        version: '3.12'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: functionAppSettings
    }
  }
}

module workerPlan 'br/public:avm/res/web/serverfarm:0.7.0' = if (deployWorker) {
  name: 'workerPlan'
  params: {
    name: 'plan-worker-${suffix}'
    location: location
    tags: tags
    skuName: 'B1'
    skuCapacity: 1
    kind: 'linux'
    reserved: true
    zoneRedundant: false
  }
}

module workerApp 'br/public:avm/res/web/site:0.24.0' = if (deployWorker) {
  name: 'workerApp'
  params: {
    name: 'app-worker-${suffix}'
    location: location
    tags: union(tags, { 'azd-service-name': 'worker' })
    kind: 'app,linux'
    serverFarmResourceId: workerPlan!.outputs.resourceId
    httpsOnly: true
    clientAffinityEnabled: false
    clientCertEnabled: false // see CKV_AZURE_17 in infra/.checkov.yaml
    // The worker only dials out (Tradovate WebSocket); deployment opens SCM briefly (azure.yaml).
    publicNetworkAccess: 'Disabled'
    managedIdentities: {
      userAssignedResourceIds: [workerIdentityId]
    }
    keyVaultAccessIdentityResourceId: workerIdentityId
    basicPublishingCredentialsPolicies: [
      { name: 'ftp', allow: false }
      { name: 'scm', allow: false }
    ]
    siteConfig: {
      alwaysOn: true
      webSocketsEnabled: true
      healthCheckPath: '/healthz'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      linuxFxVersion: 'PYTHON|3.12'
      appCommandLine: 'python -m worker'
      // Nothing may call the main site; SCM keeps its own rules so a deploy can open it briefly.
      ipSecurityRestrictionsDefaultAction: 'Deny'
      scmIpSecurityRestrictionsUseMain: false
      scmIpSecurityRestrictionsDefaultAction: 'Allow'
      appSettings: workerAppSettings
    }
    configs: [
      {
        name: 'logs'
        properties: {
          detailedErrorMessages: { enabled: true }
          failedRequestsTracing: { enabled: true }
          httpLogs: {
            fileSystem: {
              enabled: true
              retentionInDays: 7
              retentionInMb: 35
            }
          }
        }
      }
    ]
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostname string = functionApp.outputs.defaultHostname
output workerAppName string = deployWorker ? workerApp!.outputs.name : ''
