// Log Analytics + Application Insights with local (key) auth off: ingestion uses Entra ID.
param location string
param tags object
param suffix string

module workspace 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'workspace'
  params: {
    name: 'log-tradebridge-${suffix}'
    location: location
    tags: tags
    skuName: 'PerGB2018'
    dataRetention: 30
    dailyQuotaGb: '1' // stays inside the 5 GB/month free grant
    features: {
      disableLocalAuth: true
    }
  }
}

module appInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'appInsights'
  params: {
    name: 'appi-tradebridge-${suffix}'
    location: location
    tags: tags
    workspaceResourceId: workspace.outputs.resourceId
    applicationType: 'other'
    kind: 'other'
    disableLocalAuth: true
    retentionInDays: 30
  }
}

output appInsightsName string = appInsights.outputs.name
output appInsightsId string = appInsights.outputs.resourceId
output connectionString string = appInsights.outputs.connectionString
