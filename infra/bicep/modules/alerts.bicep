// The action group, the alert rules and the signal-pipeline workbook. Queries live in
// infra/alerts/*.kql and infra/workbook/ so both template sets ship the same text; the metric
// names come from shared/telemetry_names.py (tests/infra checks them).
param location string
param tags object
param suffix string
param alertEmail string
param appInsightsName string
param serviceBusNamespaceName string
param signalsQueueName string

// name => query, the measure column the query returns, threshold, severity, cadence.
var logAlerts = [
  {
    name: 'function-failures'
    query: loadTextContent('../../alerts/function-failures.kql')
    measure: 'failures'
    threshold: 0
    severity: 1
    frequency: 'PT5M'
    window: 'PT5M'
  }
  {
    name: 'webhook-latency'
    query: loadTextContent('../../alerts/webhook-latency.kql')
    measure: 'p95_ms'
    threshold: 1500
    severity: 2
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'websocket-disconnects'
    query: loadTextContent('../../alerts/websocket-disconnects.kql')
    measure: 'disconnects'
    threshold: 3
    severity: 2
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'redis-errors'
    query: loadTextContent('../../alerts/redis-errors.kql')
    measure: 'errors'
    threshold: 0
    severity: 2
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'auth-failures'
    query: loadTextContent('../../alerts/auth-failures.kql')
    measure: 'failures'
    threshold: 0
    severity: 1
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'kill-switch'
    query: loadTextContent('../../alerts/kill-switch.kql')
    measure: 'engaged'
    threshold: 0
    severity: 1
    frequency: 'PT15M'
    window: 'PT15M'
  }
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2024-10-01-preview' = {
  name: 'ag-tradebridge-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'tradebridge'
    enabled: true
    emailReceivers: [
      {
        name: 'trader'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in logAlerts: {
    name: 'alert-${alert.name}-${suffix}'
    location: location
    tags: tags
    properties: {
      scopes: [appInsights.id]
      severity: alert.severity
      enabled: true
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Total'
            metricMeasureColumn: alert.measure
            operator: 'GreaterThan'
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: [actionGroup.id]
      }
    }
  }
]

// Dead letters are a platform metric: it also counts MaxDeliveryCountExceeded, which the code
// never sees.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-dead-letters-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    scopes: [serviceBusNamespace.id]
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [signalsQueueName]
            }
          ]
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource pipelineWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names must be GUIDs; derive a stable one from the App Insights id.
  name: guid(appInsights.id, 'tradebridge-signal-pipeline')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Tradebridge signal pipeline'
    category: 'workbook'
    sourceId: toLower(appInsights.id)
    serializedData: loadTextContent('../../workbook/signal-pipeline.json')
  }
}
