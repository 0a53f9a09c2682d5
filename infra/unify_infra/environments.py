"""dev, ci and prod: one stack (stack.py), three configurations. Everything that differs between
environments is here; nothing else in infra/ names an environment.

Names follow one rule, `unify-<environment>-<part>`, so an operator can tell from any resource name which
environment it belongs to. The dbt target (profiles.yml.example) is the same Redshift definition for
every environment; the stack hands each environment's workgroup, host and schema to the container and
the loader as environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from loaders.sources import Layout


@dataclass(frozen=True)
class Environment:
    name: str                     # dev | ci | prod
    dbt_target: str               # profiles.yml.example output the cycles use
    schema: str                   # dbt's target schema (layers <schema>_staging, _marts, ...)
    base_capacity_rpu: int        # Redshift Serverless base capacity
    schedules_enabled: bool       # the 10-minute and nightly cycles (off where nothing needs them)
    nightly_cron: str             # EventBridge Scheduler cron, UTC
    alarm_email: str | None       # subscribed to the alert topic (confirmation mail on first deploy)
    log_retention_days: int
    quicksight: bool = False      # QuickSight deployed here: the cycles refresh its SPICE data sets
    # IAM roles (by name, same account) besides the cycle task that may act as the security admin: CI's
    # GitHub OIDC role runs the privileged step after its slim build (.github/workflows/ci.yml)
    access_admin_callers: tuple[str, ...] = ()
    database: str = "unify"
    frequent_rate_minutes: int = 10
    frequent_timeout_minutes: int = 30   # a frequent cycle stuck longer is stopped; the next tick runs
    nightly_timeout_minutes: int = 180

    def resource(self, part: str) -> str:
        """`unify-<environment>-<part>`: every resource's name."""
        return f"unify-{self.name}-{part}"

    @property
    def workgroup(self) -> str:
        return self.resource("wg")

    @property
    def namespace(self) -> str:
        return self.resource("ns")

    def raw_bucket(self, account: str) -> str:
        """Bucket names are global: the account id keeps them unique without a random suffix."""
        return f"unify-{self.name}-raw-{account}"

    def artifacts_bucket(self, account: str) -> str:
        return f"unify-{self.name}-artifacts-{account}"


# The GitHub Actions role CI assumes through OIDC (outside these stacks; docs/operations.md, "Slim CI"):
# its database user is IAMR:unify-ci-github (profiles.yml.example, target ci).
CI_ROLE_NAME = "unify-ci-github"

ENVIRONMENTS: dict[str, Environment] = {
    "dev": Environment(name="dev", dbt_target="dev", schema="analytics", base_capacity_rpu=8,
                       schedules_enabled=False, nightly_cron="cron(0 3 * * ? *)", alarm_email=None,
                       log_retention_days=14),
    "ci": Environment(name="ci", dbt_target="ci", schema="analytics", base_capacity_rpu=8,
                      schedules_enabled=False, nightly_cron="cron(0 3 * * ? *)", alarm_email=None,
                      log_retention_days=14, access_admin_callers=(CI_ROLE_NAME,)),
    "prod": Environment(name="prod", dbt_target="prod", schema="analytics", base_capacity_rpu=32,
                        schedules_enabled=True, nightly_cron="cron(30 2 * * ? *)",
                        alarm_email="data-oncall@glc.example", log_retention_days=365, quicksight=True),
}

# The raw landing zone's prefixes are the loaders' own layout (loaders/sources: DMS, AppFlow, TMS), so the
# bucket's notifications and the roles' grants cannot drift from what the loader reads. The loader's COPY
# manifests go under their own prefix (passed to the loader as UNIFY_REDSHIFT_MANIFEST_PREFIX): never a
# source prefix, so writing a manifest never triggers a load.
_LAYOUT = Layout()
RAW_PREFIXES = (_LAYOUT.dms_prefix, _LAYOUT.appflow_prefix, _LAYOUT.tms_prefix)
MANIFEST_PREFIX = "_unify/manifests/"
# In the artifacts bucket: the production manifest for slim CI, and the cycle lock.
STATE_PREFIX = "dbt/prod/"
LOCK_PREFIX = "cycles/"
