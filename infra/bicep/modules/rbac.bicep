// Least-privilege role assignments. Role ids are Azure built-ins (names in the comments).
// Every entry here has a twin in infra/terraform/rbac.tf (local.role_assignments); tests/infra
// compares them. Names are guid(scope, principal, role) so re-deploys are idempotent.
param funcPrincipalId string
param workerPrincipalId string
param deployerPrincipalId string
param storageAccountName string
param serviceBusNamespaceName string
param signalsQueueName string
param keyVaultName string
param appInsightsName string
@description('The Communication Services resource the apps send e-mail with (empty: none).')
param communicationServiceName string

var roleAssignments = [
  // --- function app identity ---
  {
    key: 'func_sb_sender'
    scope: 'queue'
    principal: 'func'
    roleId: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
  }
  {
    key: 'func_sb_receiver'
    scope: 'queue'
    principal: 'func'
    roleId: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
  }
  {
    key: 'func_blob_owner'
    scope: 'storage'
    principal: 'func'
    roleId: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  }
  {
    key: 'func_queue_contributor'
    scope: 'storage'
    principal: 'func'
    roleId: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  }
  {
    key: 'func_table_contributor'
    scope: 'storage'
    principal: 'func'
    roleId: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  }
  {
    key: 'func_kv_secrets_user'
    scope: 'keyvault'
    principal: 'func'
    roleId: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  }
  {
    key: 'func_metrics_publisher'
    scope: 'appinsights'
    principal: 'func'
    roleId: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  }
  // --- worker identity ---
  {
    key: 'worker_table_contributor'
    scope: 'storage'
    principal: 'worker'
    roleId: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  }
  {
    key: 'worker_kv_secrets_user'
    scope: 'keyvault'
    principal: 'worker'
    roleId: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  }
  {
    key: 'worker_metrics_publisher'
    scope: 'appinsights'
    principal: 'worker'
    roleId: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  }
  // --- e-mail notifications (deployEmail): ACS has no narrower built-in role that sends ---
  {
    key: 'func_email_sender'
    scope: 'email'
    principal: 'func'
    roleId: '09976791-48a7-449e-bb21-39d1a415f350' // Communication and Email Service Owner
  }
  {
    key: 'worker_email_sender'
    scope: 'email'
    principal: 'worker'
    roleId: '09976791-48a7-449e-bb21-39d1a415f350' // Communication and Email Service Owner
  }
  // --- the deployer, to store the secrets ---
  {
    key: 'deployer_kv_secrets_officer'
    scope: 'keyvault'
    principal: 'deployer'
    roleId: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
  }
]

var principals = {
  func: funcPrincipalId
  worker: workerPrincipalId
  deployer: deployerPrincipalId
}

// Skip the deployer's assignment when no principal id was given, and e-mail's without ACS.
var activeAssignments = filter(
  roleAssignments,
  ra => !empty(principals[ra.principal]) && (ra.scope != 'email' || !empty(communicationServiceName))
)

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName

  resource signalsQueue 'queues' existing = {
    name: signalsQueueName
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: empty(communicationServiceName) ? 'none' : communicationServiceName
}

resource queueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for ra in filter(activeAssignments, ra => ra.scope == 'queue'): {
    name: guid(serviceBusNamespace::signalsQueue.id, principals[ra.principal], ra.roleId)
    scope: serviceBusNamespace::signalsQueue
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ra.roleId)
      principalId: principals[ra.principal]
      principalType: 'ServicePrincipal'
    }
  }
]

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for ra in filter(activeAssignments, ra => ra.scope == 'storage'): {
    name: guid(storageAccount.id, principals[ra.principal], ra.roleId)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ra.roleId)
      principalId: principals[ra.principal]
      principalType: 'ServicePrincipal'
    }
  }
]

resource keyVaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for ra in filter(activeAssignments, ra => ra.scope == 'keyvault'): {
    name: guid(keyVault.id, principals[ra.principal], ra.roleId)
    scope: keyVault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ra.roleId)
      principalId: principals[ra.principal]
      // The deployer may be a user or a pipeline; identities are always service principals.
      principalType: ra.principal == 'deployer' ? null : 'ServicePrincipal'
    }
  }
]

resource appInsightsRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for ra in filter(activeAssignments, ra => ra.scope == 'appinsights'): {
    name: guid(appInsights.id, principals[ra.principal], ra.roleId)
    scope: appInsights
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ra.roleId)
      principalId: principals[ra.principal]
      principalType: 'ServicePrincipal'
    }
  }
]

resource emailRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for ra in filter(activeAssignments, ra => ra.scope == 'email'): {
    name: guid(communicationService.id, principals[ra.principal], ra.roleId)
    scope: communicationService
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ra.roleId)
      principalId: principals[ra.principal]
      principalType: 'ServicePrincipal'
    }
  }
]
