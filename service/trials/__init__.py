"""The trial registry: studies imported from ClinicalTrials.gov (API v2) and the site's own
open trials, read by the trial pre-screen (`service.decision.prescreen`).

`model` is plain data, so the decision layer may read it; `ctgov` parses API v2 responses,
`sync` fetches them, `command` is `leukemia-cds trials`."""
