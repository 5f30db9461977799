// Azure Communication Services Email with an Azure-managed domain, for the trader's
// notifications (docs/notifications.md). Deployed only with deployEmail = true; the apps send
// with their managed identities (the role is granted in rbac.bicep), never with a key.
param tags object
param suffix string
@description('Where ACS keeps e-mail data at rest (for example United States, Europe).')
param dataLocation string

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'email-tb-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

// An Azure-managed domain (<guid>.azurecomm.net): no DNS to verify, sends as DoNotReply@ it.
resource domain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-tb-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      domain.id
    ]
  }
}

output name string = communication.name
output endpoint string = 'https://${communication.properties.hostName}'
output sender string = 'DoNotReply@${domain.properties.mailFromSenderDomain}'
