"""The platform on AWS as one CDK stack per environment (docs/operations.md, "The platform as code").

    S3 raw bucket (SSE, versioned, NFR-6 lifecycle, TLS only, no public access)
      --ObjectCreated on dms/, appflow/, tms/--> SQS queue (DLQ after 5 receives)
      --> loader Lambda (loaders.lambda_handler.handler) --Data API--> Redshift Serverless workgroup
                                                           (COPY with the COPY role: raw prefixes + manifests)
    EventBridge Scheduler (every 10 minutes; nightly) --> Step Functions --> ECS Fargate task `unify cycle`
    SNS alert topic <-- `unify cycle` (failures, stale sources) and the CloudWatch alarms
    (loader errors, DLQ depth, cycle failures, data older than 15 minutes)

Least privilege, by construction: each role gets the actions it calls on the resources it touches
(bucket prefixes, one workgroup, one secret, one topic, one lock object, the dashboards' data sets); where
AWS offers no resource level (the Data API's statement calls, ECR's GetAuthorizationToken) the wildcard is
documented in nag.py. What needs a security admin in the warehouse (row-level security, reader grants on
row-secured tables) and the PII key's secret belong to a role of their own, the access admin, which the
cycle assumes for its privileged step only (docs/access-control.md, "Who needs what").
"""

from __future__ import annotations

from aws_cdk import (ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack, aws_cloudwatch as cloudwatch,
                     aws_cloudwatch_actions as cw_actions, aws_ec2 as ec2, aws_ecs as ecs, aws_iam as iam,
                     aws_kms as kms, aws_lambda as lambda_, aws_lambda_event_sources as event_sources,
                     aws_logs as logs, aws_redshiftserverless as redshift, aws_s3 as s3,
                     aws_s3_notifications as s3n, aws_scheduler as scheduler, aws_secretsmanager as secrets,
                     aws_sns as sns, aws_sns_subscriptions as subscriptions, aws_sqs as sqs,
                     aws_stepfunctions as sfn, aws_stepfunctions_tasks as tasks)
from constructs import Construct

from unify_infra.environments import (LOCK_PREFIX, MANIFEST_PREFIX, RAW_PREFIXES, STATE_PREFIX, Environment)
from unify_infra.lambda_bundle import HANDLER, ROOT, function_code, layer_code


def quicksight_data_set_ids() -> list[str]:
    """The data sets `unify quicksight deploy` makes, from the dashboards' spec (the cycle refreshes them)."""
    from unify.quicksight.deploy import data_set_ids
    from unify.quicksight.resources import load_config

    return data_set_ids(load_config(env={}))

SEVEN_YEARS = Duration.days(7 * 365 + 2)   # NFR-6: raw data kept 7 years (two leap days)
LOADER_TIMEOUT = Duration.minutes(10)
METRIC_NAMESPACE = "Unify/Cycles"         # unify/cycle.py METRIC_NAMESPACE
CYCLE_EXIT_REFUSED = 75                   # unify/cycle.py EXIT_REFUSED: another cycle runs; not a failure
CONTAINER = "unify"


class UnifyPlatformStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, environment: Environment, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = env = environment

        # --------------------------------------------------------------------- keys, topic, buckets
        self.key = kms.Key(self, "Key", enable_key_rotation=True, alias=f"alias/{env.resource('key')}",
                           description=f"Project Unify {env.name}: SNS alerts, SQS queues, logs")
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"))
        self.topic = sns.Topic(self, "AlertTopic", topic_name=env.resource("alerts"), master_key=self.key,
                               enforce_ssl=True, display_name=f"Project Unify {env.name} alerts")
        if env.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(env.alarm_email))

        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))])
        self.raw = s3.Bucket(
            self, "RawBucket", bucket_name=env.raw_bucket(self.account),
            encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="raw/",
            lifecycle_rules=[s3.LifecycleRule(
                id="nfr-6-raw-retention",
                transitions=[s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                           transition_after=Duration.days(30)),
                             s3.Transition(storage_class=s3.StorageClass.DEEP_ARCHIVE,
                                           transition_after=Duration.days(90))],
                noncurrent_version_transitions=[
                    s3.NoncurrentVersionTransition(storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                                   transition_after=Duration.days(30)),
                    s3.NoncurrentVersionTransition(storage_class=s3.StorageClass.DEEP_ARCHIVE,
                                                   transition_after=Duration.days(90))],
                expiration=SEVEN_YEARS, noncurrent_version_expiration=SEVEN_YEARS,
                abort_incomplete_multipart_upload_after=Duration.days(7))])
        self.artifacts = s3.Bucket(
            self, "ArtifactsBucket", bucket_name=env.artifacts_bucket(self.account),
            encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=RemovalPolicy.RETAIN,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(id="old-manifests", noncurrent_version_expiration=Duration.days(90)),
                s3.LifecycleRule(id="released-locks", prefix=LOCK_PREFIX,
                                 noncurrent_version_expiration=Duration.days(1), expired_object_delete_marker=True)])

        # --------------------------------------------------------------------------- network, Redshift
        self.vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1, subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22)])
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)  # COPY with enhanced VPC routing
        flow_logs = self._log_group("VpcFlowLogs")
        self.vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.task_sg = ec2.SecurityGroup(self, "CycleTaskSg", vpc=self.vpc, allow_all_outbound=True,
                                         description="unify cycle tasks: HTTPS to AWS APIs, 5439 to Redshift")
        self.redshift_sg = ec2.SecurityGroup(self, "RedshiftSg", vpc=self.vpc, allow_all_outbound=False,
                                             description="Redshift Serverless: only the cycle tasks connect")
        self.redshift_sg.add_ingress_rule(self.task_sg, ec2.Port.tcp(5439), "dbt in the cycle task")

        self.copy_role = iam.Role(
            self, "CopyRole", role_name=env.resource("redshift-copy"),
            assumed_by=iam.CompositePrincipal(iam.ServicePrincipal("redshift.amazonaws.com"),
                                              iam.ServicePrincipal("redshift-serverless.amazonaws.com")),
            description="COPY ... IAM_ROLE: reads the raw prefixes and the loader's manifests, nothing else")
        self.copy_role.add_to_policy(iam.PolicyStatement(
            sid="ReadRawAndManifests", actions=["s3:GetObject"],
            resources=[self.raw.arn_for_objects(f"{p}*") for p in (*RAW_PREFIXES, MANIFEST_PREFIX)]))
        self.copy_role.add_to_policy(iam.PolicyStatement(
            sid="BucketLocation", actions=["s3:GetBucketLocation"], resources=[self.raw.bucket_arn]))

        self.namespace = redshift.CfnNamespace(
            self, "Namespace", namespace_name=env.namespace, db_name=env.database, admin_username="unify_admin",
            manage_admin_password=True, iam_roles=[self.copy_role.role_arn],
            default_iam_role_arn=self.copy_role.role_arn, log_exports=["userlog", "connectionlog", "useractivitylog"])
        self.namespace.apply_removal_policy(RemovalPolicy.RETAIN)
        self.workgroup = redshift.CfnWorkgroup(
            self, "Workgroup", workgroup_name=env.workgroup, namespace_name=env.namespace,
            base_capacity=env.base_capacity_rpu, enhanced_vpc_routing=True, publicly_accessible=False,
            subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
            security_group_ids=[self.redshift_sg.security_group_id])
        self.workgroup.add_resource_dependency(self.namespace)
        self.workgroup_arn = self.workgroup.attr_workgroup_workgroup_arn
        self.loader_secret = secrets.Secret(
            self, "LoaderDbSecret", secret_name=env.resource("loader-db"), encryption_key=self.key,
            description="Database user the loader Lambda connects as through the Data API (created once: "
                        "docs/operations.md, first deployment)",
            generate_secret_string=secrets.SecretStringGenerator(
                secret_string_template='{"username": "unify_loader"}', generate_string_key="password",
                exclude_punctuation=True, password_length=40))
        # The PII key (docs/access-control.md, "The PII key"): installed into the warehouse's key vault by
        # `unify access install-pii-key` as the security admin, the one identity that may read it; the
        # cycles know its name only (UNIFY_PII_KEY_SECRET_ID), to check the vault holds its key.
        self.pii_key_secret = secrets.Secret(
            self, "PiiHashKey", secret_name=env.resource("pii-hash-key"), encryption_key=self.key,
            description="The PII pseudonymisation key; read only by the access-admin role, which installs it "
                        "into the warehouse (unify access install-pii-key)",
            generate_secret_string=secrets.SecretStringGenerator(exclude_punctuation=True, password_length=64))

        self._loader(env)
        self._cycles(env)
        self._alarms(env)

    def _log_group(self, construct_id: str, name: str | None = None) -> logs.LogGroup:
        """A log group kept for the environment's retention, encrypted with the stack's key, retained on delete."""
        return logs.LogGroup(self, construct_id, log_group_name=name, retention=self._retention(),
                             encryption_key=self.key, removal_policy=RemovalPolicy.RETAIN)

    def _retention(self) -> logs.RetentionDays:
        return {14: logs.RetentionDays.TWO_WEEKS, 90: logs.RetentionDays.THREE_MONTHS,
                365: logs.RetentionDays.ONE_YEAR}[self.config.log_retention_days]

    # ----------------------------------------------------------------------------------- the loader
    def _loader_environment(self, env: Environment) -> dict[str, str]:
        """The loader's configuration (loaders/load.py, loaders/warehouse/redshift.py), for the Lambda and
        for the cycle's load step alike."""
        return {
            "UNIFY_LANDING": f"s3://{self.raw.bucket_name}",
            "UNIFY_LOAD_TARGET": "redshift",
            "REDSHIFT_WORKGROUP": env.workgroup,
            "REDSHIFT_DATABASE": env.database,
            "UNIFY_REDSHIFT_SECRET_ARN": self.loader_secret.secret_arn,
            "UNIFY_REDSHIFT_COPY_ROLE_ARN": self.copy_role.role_arn,
            "UNIFY_REDSHIFT_MANIFEST_PREFIX": f"s3://{self.raw.bucket_name}/{MANIFEST_PREFIX.rstrip('/')}",
        }

    def _grant_loading(self, role: iam.IRole) -> None:
        """What `loaders.load.load` on Redshift calls: list and read the raw prefixes, write and read its
        manifests, the Data API on this workgroup with the loader's secret."""
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ListRawPrefixes", actions=["s3:ListBucket"], resources=[self.raw.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in RAW_PREFIXES]}}))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadRaw", actions=["s3:GetObject"], resources=[self.raw.arn_for_objects(f"{p}*") for p in RAW_PREFIXES]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteManifests", actions=["s3:PutObject", "s3:GetObject"],
            resources=[self.raw.arn_for_objects(f"{MANIFEST_PREFIX}*")]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DataApiOnTheWorkgroup", actions=["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            resources=[self.workgroup_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="DataApiOwnStatements",
            actions=["redshift-data:DescribeStatement", "redshift-data:GetStatementResult",
                     "redshift-data:CancelStatement"],
            resources=["*"],  # these calls take a statement id, no resource; the condition keeps them to ours
            conditions={"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="LoaderSecret", actions=["secretsmanager:GetSecretValue"], resources=[self.loader_secret.secret_arn]))
        self.key.grant_decrypt(role)

    def _loader(self, env: Environment) -> None:
        self.dlq = sqs.Queue(self, "LoadDlq", queue_name=env.resource("load-dlq"), retention_period=Duration.days(14),
                             encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key, enforce_ssl=True)
        self.queue = sqs.Queue(
            self, "LoadQueue", queue_name=env.resource("load"), retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key, enforce_ssl=True,
            visibility_timeout=Duration.seconds(LOADER_TIMEOUT.to_seconds() * 6),  # AWS: >= 6x the function timeout
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=5))
        for prefix in RAW_PREFIXES:  # never _unify/: the loader's own manifests must not trigger loads
            self.raw.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.queue),
                                            s3.NotificationKeyFilter(prefix=prefix))

        log_group = self._log_group("LoaderLogs", f"/aws/lambda/{env.resource('loader')}")
        self.loader_role = iam.Role(self, "LoaderRole", role_name=env.resource("loader"),
                                    assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                                    description="The loader Lambda: raw prefixes, manifests, Data API on one workgroup")
        self.loader_role.add_to_policy(iam.PolicyStatement(
            sid="OwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:log-stream:*"]))
        self._grant_loading(self.loader_role)
        self.layer = lambda_.LayerVersion(self, "LoaderDeps", code=layer_code(),
                                          compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
                                          description="pyarrow + boto3 for the loader (infra/lambda/requirements.txt)")
        self.loader = lambda_.Function(
            self, "Loader", function_name=env.resource("loader"), runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64, handler=HANDLER, code=function_code(), layers=[self.layer],
            role=self.loader_role, log_group=log_group, timeout=LOADER_TIMEOUT, memory_size=2048,
            reserved_concurrent_executions=5,  # loads queue on the warehouse's load lock anyway
            environment={**self._loader_environment(env), "UNIFY_LOG_LEVEL": "INFO"},
            description="S3 event -> load exactly those objects into the raw tables (loaders.lambda_handler)")
        self.loader.add_event_source(event_sources.SqsEventSource(
            self.queue, batch_size=10, max_batching_window=Duration.seconds(20)))

    # ----------------------------------------------------------------------------------- the cycles
    def _cycles(self, env: Environment) -> None:
        self.cluster = ecs.Cluster(self, "Cluster", cluster_name=env.resource("cycles"), vpc=self.vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENABLED)
        log_group = self._log_group("CycleLogs", f"/unify/{env.name}/cycles")
        self.task_role = iam.Role(self, "CycleTaskRole", role_name=env.resource("cycle-task"),
                                  assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                  description="`unify cycle`: load step, dbt on Redshift (IAM), SNS, the cycle lock")
        self._grant_loading(self.task_role)
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="DbtIamCredentials", actions=["redshift-serverless:GetCredentials"], resources=[self.workgroup_arn]))
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="CycleLock", actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            resources=[self.artifacts.arn_for_objects(f"{LOCK_PREFIX}{env.name}/lock.json")]))
        self.topic.grant_publish(self.task_role)
        self._access_admin(env)
        if env.quicksight:
            # the SPICE refresh after a cycle (unify/quicksight/refresh.py): ingestions of exactly the data
            # sets `unify quicksight deploy` makes, nothing else in QuickSight
            self.task_role.add_to_policy(iam.PolicyStatement(
                sid="RefreshSpice", actions=["quicksight:CreateIngestion"],
                resources=[self.format_arn(service="quicksight", resource="dataset",
                                           resource_name=f"{data_set_id}/ingestion/*",
                                           arn_format=ArnFormat.SLASH_RESOURCE_NAME)
                           for data_set_id in quicksight_data_set_ids()]))

        self.task_definition = ecs.FargateTaskDefinition(
            self, "CycleTask", family=env.resource("cycle"), cpu=1024, memory_limit_mib=4096,
            task_role=self.task_role, runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX))
        self.container = self.task_definition.add_container(
            CONTAINER, container_name=CONTAINER,
            image=ecs.ContainerImage.from_asset(str(ROOT), file="Dockerfile"),
            command=["unify", "cycle", "frequent"],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="cycle", log_group=log_group),
            environment={
                **self._loader_environment(env),
                "UNIFY_ENV": env.name,
                "DBT_TARGET": env.dbt_target,
                "UNIFY_SCHEMA": env.schema,
                "REDSHIFT_HOST": self.workgroup.attr_workgroup_endpoint_address,
                "AWS_REGION": self.region,
                "UNIFY_ALERT_TOPIC_ARN": self.topic.topic_arn,
                "UNIFY_CYCLE_LOCK": f"s3://{self.artifacts.bucket_name}/{LOCK_PREFIX}{env.name}/lock.json",
                "UNIFY_LOG_FORMAT": "json",
                "UNIFY_LOADER_DB_USER": "unify_loader",  # the loader's database user (access control)
                "REDSHIFT_DB_USER": f"IAMR:{env.resource('cycle-task')}",  # the task role's database user
                # the PII key's secret, by name: the build checks the vault holds its key; only the admin reads it
                "UNIFY_PII_KEY_SECRET_ID": self.pii_key_secret_name,
                # the privileged step after each build: the admin's dbt target, role and database user
                "UNIFY_ACCESS_ADMIN_TARGET": f"{env.dbt_target}_admin",
                "UNIFY_ACCESS_ADMIN_ROLE_ARN": self.access_admin_role.role_arn,
                "UNIFY_ACCESS_ADMIN_DB_USER": f"IAMR:{env.resource('access-admin')}",
                **({"UNIFY_QUICKSIGHT_ACCOUNT_ID": self.account, "UNIFY_QUICKSIGHT_REGION": self.region}
                   if env.quicksight else {}),
            })

        # What `aws ecs run-task` needs to run one command in the cycle's container, with the cycle's
        # identities (the runbook: the first privileged step and key installation, a key rotation)
        private = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        for name, value, text in (
                ("CycleCluster", self.cluster.cluster_name, "ECS cluster of the cycles"),
                ("CycleTaskDefinition", self.task_definition.family, "task definition family of the cycles"),
                ("CycleSubnets", Fn.join(",", private), "private subnets a one-off cycle task runs in"),
                ("CycleSecurityGroup", self.task_sg.security_group_id, "security group of the cycle tasks")):
            CfnOutput(self, name, value=value, description=f"{text} (docs/operations.md, the runbook)")

        self.state_machines: dict[str, sfn.StateMachine] = {}
        for cycle, timeout in (("frequent", env.frequent_timeout_minutes), ("nightly", env.nightly_timeout_minutes)):
            self.state_machines[cycle] = self._cycle_state_machine(env, cycle, Duration.minutes(timeout))
        self.scheduler_role = iam.Role(self, "SchedulerRole", role_name=env.resource("scheduler"),
                                       assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                                       description="EventBridge Scheduler: starts the cycle state machines")
        schedules = {"frequent": f"rate({env.frequent_rate_minutes} minutes)", "nightly": env.nightly_cron}
        for cycle, expression in schedules.items():
            self.state_machines[cycle].grant_start_execution(self.scheduler_role)
            scheduler.CfnSchedule(
                self, f"{cycle.title()}Schedule", name=env.resource(f"{cycle}-cycle"),
                schedule_expression=expression, schedule_expression_timezone="UTC",
                state="ENABLED" if env.schedules_enabled else "DISABLED",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=self.state_machines[cycle].state_machine_arn, role_arn=self.scheduler_role.role_arn,
                    input='{"cycle": "%s"}' % cycle,
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=2,
                                                                          maximum_event_age_in_seconds=300)),
                description=f"unify cycle {cycle}")

    def _access_admin(self, env: Environment) -> None:
        """The security admin (docs/access-control.md, "Who needs what"): its own IAM role, whose database user
        IAMR:unify-<env>-access-admin alone holds the privileged step's rights. The cycle task (and, where
        configured, CI's role) may assume it; it may get database credentials and read the PII key, nothing
        else. The task role itself never reads the key and its database user never holds sys:secadmin."""
        callers = [self.format_arn(service="iam", region="", resource="role", resource_name=name)
                   for name in (env.resource("cycle-task"), *env.access_admin_callers)]
        self.access_admin_role = iam.Role(
            self, "AccessAdminRole", role_name=env.resource("access-admin"),
            # trusted by name (a condition, not a principal), so that a caller created later still works
            assumed_by=iam.AccountPrincipal(self.account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": callers}}),
            max_session_duration=Duration.hours(1),
            description="The privileged step (unify access apply) and the PII key's installation: database "
                        "user IAMR:<this role> with the security admin's rights; the PII key secret")
        self.access_admin_role.add_to_policy(iam.PolicyStatement(
            sid="AdminIamCredentials", actions=["redshift-serverless:GetCredentials"], resources=[self.workgroup_arn]))
        self.access_admin_role.add_to_policy(iam.PolicyStatement(
            sid="PiiKeySecret", actions=["secretsmanager:GetSecretValue"], resources=[self.pii_key_secret.secret_arn]))
        self.key.grant_decrypt(self.access_admin_role)
        self.task_role.add_to_policy(iam.PolicyStatement(
            sid="ActAsAccessAdmin", actions=["sts:AssumeRole"], resources=[self.access_admin_role.role_arn]))

    @property
    def pii_key_secret_name(self) -> str:
        """UNIFY_PII_KEY_SECRET_ID: the name, as the vault records it (`secretsmanager:<name> version ...`)."""
        return self.config.resource("pii-hash-key")

    def _cycle_state_machine(self, env: Environment, cycle: str, timeout: Duration) -> sfn.StateMachine:
        run = tasks.EcsRunTask(
            self, f"Run{cycle.title()}Cycle", cluster=self.cluster, task_definition=self.task_definition,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB, launch_target=tasks.EcsFargateLaunchTarget(
                platform_version=ecs.FargatePlatformVersion.LATEST),
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.task_sg], assign_public_ip=False, task_timeout=sfn.Timeout.duration(timeout),
            container_overrides=[tasks.ContainerOverride(container_definition=self.container,
                                                         command=["unify", "cycle", cycle])])
        # Infrastructure hiccups (no Fargate capacity, throttling) are retried; a cycle that ran and failed
        # is not: the next tick catches up, and the alarms say it failed.
        run.add_retry(errors=["ECS.AmazonECSException", "ECS.ServerException", "ECS.LimitExceededException",
                              "AmazonECS.Unknown"], interval=Duration.seconds(30), max_attempts=3, backoff_rate=2)
        exit_code = "$.Containers[0].ExitCode"
        outcome = sfn.Choice(self, f"{cycle.title()}Outcome").when(
            sfn.Condition.or_(sfn.Condition.number_equals(exit_code, 0),
                              sfn.Condition.number_equals(exit_code, CYCLE_EXIT_REFUSED)),
            sfn.Succeed(self, f"{cycle.title()}Done", comment="succeeded, or refused: another cycle was running"),
        ).otherwise(sfn.Fail(self, f"{cycle.title()}Failed", error="CycleFailed",
                             cause="unify cycle exited non-zero: see the cycle's JSON summary in the log group"))
        log_group = self._log_group(f"{cycle.title()}StateMachineLogs", f"/unify/{env.name}/states/{cycle}")
        return sfn.StateMachine(
            self, f"{cycle.title()}Cycle", state_machine_name=env.resource(f"{cycle}-cycle"),
            definition_body=sfn.DefinitionBody.from_chainable(run.next(outcome)),
            timeout=timeout.plus(Duration.minutes(10)), tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False))

    # ----------------------------------------------------------------------------------- the alarms
    def _alarm(self, alarm: cloudwatch.IAlarm) -> cloudwatch.IAlarm:
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        return alarm

    def _cycle_metric(self, name: str, cycle: str, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=METRIC_NAMESPACE, metric_name=name, statistic=statistic, period=period,
                                 dimensions_map={"Environment": self.config.name, "Cycle": cycle})

    def _alarms(self, env: Environment) -> None:
        self.alarms: dict[str, cloudwatch.IAlarm] = {}
        self.alarms["loader-errors"] = self._alarm(self.loader.metric_errors(
            period=Duration.minutes(5)).create_alarm(
            self, "LoaderErrors", alarm_name=env.resource("loader-errors"), threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The loader Lambda raised (a failed load: the event is retried, then dead-lettered)"))
        self.alarms["dlq-depth"] = self._alarm(self.dlq.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum").create_alarm(
            self, "DlqDepth", alarm_name=env.resource("load-dlq-depth"), threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="S3 events the loader gave up on: load them with `unify load` (runbook)"))
        for cycle in ("frequent", "nightly"):
            period = Duration.minutes(env.frequent_rate_minutes) if cycle == "frequent" else Duration.days(1)
            self.alarms[f"{cycle}-cycle-failed"] = self._alarm(self._cycle_metric(
                "CycleFailed", cycle, "Sum", period).create_alarm(
                self, f"{cycle.title()}CycleFailed", alarm_name=env.resource(f"{cycle}-cycle-failed"), threshold=1,
                evaluation_periods=1, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"`unify cycle {cycle}` failed (its summary in /unify/{env.name}/cycles says which step)"))
            self.alarms[f"{cycle}-executions-failed"] = self._alarm(self.state_machines[cycle].metric_failed(period=period).create_alarm(
                    self, f"{cycle.title()}ExecutionsFailed", alarm_name=env.resource(f"{cycle}-executions-failed"),
                    threshold=1, evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    alarm_description=f"The {cycle} state machine failed (the task did not start, timed out or "
                                      "exited non-zero)"))
        # Data older than 15 minutes: a successful frequent cycle reports how old the newest data the marts
        # may lack is (DataAgeSeconds); too old, or no successful cycle at all for 15 minutes, both mean it.
        too_old = self._cycle_metric("DataAgeSeconds", "frequent", "Maximum", Duration.minutes(5)).create_alarm(
            self, "DataAgeTooOld", alarm_name=env.resource("data-age-over-15-min"), threshold=900, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="A frequent cycle succeeded, but the data it published was over 15 minutes old")
        no_success = self._cycle_metric("CycleSucceeded", "frequent", "Sum", Duration.minutes(15)).create_alarm(
            self, "NoSuccessfulCycle", alarm_name=env.resource("no-successful-cycle-15-min"), threshold=1,
            evaluation_periods=1, comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="No frequent cycle succeeded in 15 minutes: the marts lack everything landed since")
        stale = cloudwatch.CompositeAlarm(
            self, "DataOlderThan15Minutes", composite_alarm_name=env.resource("data-older-than-15-min"),
            alarm_rule=cloudwatch.AlarmRule.any_of(too_old, no_success),
            actions_enabled=env.schedules_enabled,  # no schedule, no cycles: the heartbeat would always fire
            alarm_description="NFR: WMS data in the marts under 15 minutes old. Runbook: docs/operations.md")
        self.alarms["data-older-than-15-min"] = self._alarm(stale)
