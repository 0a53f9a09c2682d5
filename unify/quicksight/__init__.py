"""QuickSight as code: the Redshift data source, one SPICE data set per reporting table with the rules
data set attached to the client-scoped ones, and the two dashboards' definitions, all from the
dashboards' spec (unify/dashboards/spec.yml); `unify quicksight plan|deploy|refresh`."""
