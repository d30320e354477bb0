"""Wiring in one place: settings -> AWS clients -> ports -> Scanner, Sweeper and Hook.

The Lambda handlers and the CLI build what they run here, and nowhere else. Importing this module costs
little: the adapters (and so boto3), the policy catalog and the sweep are imported when something is built,
so the scanner handler's cold start pays for none of them before its first event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecsguard.publishing import Options
from ecsguard.service import Scanner
from ecsguard.settings import Settings

if TYPE_CHECKING:  # the adapters import boto3
    from ecsguard.adapters.aws import AccountAccess
    from ecsguard.adapters.ecs import EcsResolver
    from ecsguard.adapters.securityhub import SecurityHubPublisher
    from ecsguard.adapters.sns import SnsNotifier
    from ecsguard.core.exemptions import ExemptionSet
    from ecsguard.hook import Hook
    from ecsguard.organization import OrganizationSweep
    from ecsguard.sweep import Sweeper


def environment_settings() -> Settings:
    """The ECSGUARD_* settings of this process's environment; raises SettingsError naming a bad variable."""
    return Settings.from_environment(os.environ)


def region_of_environment() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def regions_to_sweep(settings: Settings, requested: Sequence[str] | None = None) -> list[str]:
    """The Regions asked for, else the configured ones, else the Region this runs in."""
    return list(requested or settings.sweep_regions or [region_of_environment()])


_own_account: list[str] = []


def remember_account(context: Any) -> None:
    """Learn the scanner's account from the Lambda context (free), rather than from STS."""
    function_arn = getattr(context, "invoked_function_arn", None)
    if not _own_account and isinstance(function_arn, str) and function_arn.count(":") >= 5:
        _own_account.append(function_arn.split(":")[4])


def own_account(settings: Settings) -> str:
    """The scanner's account: from the Lambda context's function ARN, else STS (needs no permission)."""
    if not _own_account:
        from ecsguard.adapters import aws

        identity = aws.client("sts", max_attempts=settings.aws_max_attempts).get_caller_identity()
        _own_account.append(str(identity["Account"]))
    return _own_account[0]


@dataclass(frozen=True)
class Ports:
    """The AWS side of a scan or a sweep, per account and Region (a member's goes through its role)."""

    access: AccountAccess
    resolver: Callable[[str, str], EcsResolver]
    findings: Callable[[str, str], SecurityHubPublisher] | None
    notifier: SnsNotifier | None


def build_ports(settings: Settings, retry_mode: str = "standard") -> Ports:
    from ecsguard.adapters import aws
    from ecsguard.adapters.ecs import EcsResolver
    from ecsguard.adapters.securityhub import SecurityHubPublisher
    from ecsguard.adapters.sns import SnsNotifier
    from ecsguard.events import partition_of

    attempts = settings.aws_max_attempts
    access = aws.AccountAccess(
        lambda: own_account(settings), settings.member_role_name, attempts, retry_mode=retry_mode
    )

    def resolver(account: str, region: str) -> EcsResolver:
        return EcsResolver(lambda: access.client("ecs", account, region, partition_of(region)))

    def findings(account: str, region: str) -> SecurityHubPublisher:
        return SecurityHubPublisher(access.client("securityhub", account, region, partition_of(region)))

    # Notifications go to the one central topic, whatever account the event came from.
    notifier = SnsNotifier(aws.client("sns", max_attempts=attempts), settings.topic_arn) if settings.topic_arn else None
    return Ports(access, resolver, findings if settings.security_hub else None, notifier)


def _options(settings: Settings, dry_run: bool) -> Options:
    return Options(
        import_passed=settings.import_passed, notify_min_severity=settings.notify_min_severity, dry_run=dry_run
    )


def build_scanner(settings: Settings) -> Scanner:
    """Policies, clients and resolver for these settings (AWS clients are shared per process)."""
    from ecsguard.catalog import load_policy_set

    ports = build_ports(settings)
    policy_set = load_policy_set(settings.policy_dir, settings.parameters, settings.selected_packs())
    options = _options(settings, settings.dry_run)
    return Scanner(
        policy_set, ports.resolver, ports.findings, ports.notifier, options, exemptions=load_exemption_set(settings)
    )


def load_exemption_set(settings: Settings, clock: Callable[[], str] | None = None) -> ExemptionSet:
    """The exemptions in effect (ECSGUARD_EXEMPTIONS, else the policy folder's exemptions.yaml, else none),
    checked against every policy of the folder and the longest lifetime from today; a problem fails the load."""
    from ecsguard.catalog import default_policy_dir
    from ecsguard.core.exemptions import today_of
    from ecsguard.exemptions_file import exemptions_in_effect
    from ecsguard.publishing import now

    directory = settings.policy_dir or default_policy_dir()
    today = today_of((clock or now)())
    return exemptions_in_effect(settings.exemptions, directory, today, settings.exemptions_max_lifetime_days)[1]


def build_sweeper(settings: Settings, publish: bool, all_revisions: bool = False, keep: bool = True) -> Sweeper:
    """The sweep for these settings; a sweep's dry run is ``publish=False`` (it then reads no findings either).
    ``keep``: the report keeps every result (the CLI prints them); the Lambda function keeps counts only."""
    from ecsguard.adapters.ecs import EcsInventory
    from ecsguard.catalog import load_policy_set
    from ecsguard.events import partition_of
    from ecsguard.sweep import Sweeper, SweepOptions

    # Adaptive retries: a sweep makes thousands of calls and should slow down, not fail, when throttled.
    ports = build_ports(settings, retry_mode="adaptive")

    def inventory(account: str, region: str) -> EcsInventory:
        return EcsInventory(ports.access.client("ecs", account, region, partition_of(region)))

    options = SweepOptions(
        all_revisions=all_revisions, publish=publish, publishing=_options(settings, False), keep=keep
    )
    policy_set = load_policy_set(settings.policy_dir, settings.parameters, settings.selected_packs())
    exemptions = load_exemption_set(settings)
    return Sweeper(
        policy_set, inventory, ports.resolver, ports.findings, ports.notifier, options, exemptions=exemptions
    )


def build_hook(settings: Settings) -> Hook:
    """The CloudFormation hook for these settings: the scanner's policy set (the same folder, parameters and packs),
    and a service's task definition described in this Region (ecs:DescribeTaskDefinition, its only AWS call),
    the client built on the first service that needs it."""
    from ecsguard.catalog import load_policy_set
    from ecsguard.hook import Hook

    def task_definitions() -> EcsResolver:
        from ecsguard.adapters import aws
        from ecsguard.adapters.ecs import EcsResolver

        return EcsResolver(lambda: aws.client("ecs", max_attempts=settings.aws_max_attempts))

    policy_set = load_policy_set(settings.policy_dir, settings.parameters, settings.selected_packs())
    return Hook(policy_set, task_definitions)


def build_organization_sweep(settings: Settings) -> OrganizationSweep:
    """The organization sweep's own steps: the accounts (the settings' list, else organizations:ListAccounts, asked
    only then), the Regions, and this account's Security Hub in this Region for the account coverage findings."""
    from ecsguard.adapters import aws
    from ecsguard.adapters.organizations import OrganizationAccounts
    from ecsguard.adapters.securityhub import SecurityHubPublisher
    from ecsguard.core.findings import FindingContext
    from ecsguard.events import partition_of
    from ecsguard.organization import OrganizationSweep
    from ecsguard.publishing import now

    attempts = settings.aws_max_attempts
    region = region_of_environment()

    def organization_accounts() -> list[str]:
        return OrganizationAccounts(aws.client("organizations", max_attempts=attempts)).active()

    def context() -> FindingContext:
        return FindingContext(own_account(settings), region, partition_of(region), now())

    findings = SecurityHubPublisher(aws.client("securityhub", max_attempts=attempts)) if settings.security_hub else None
    return OrganizationSweep(
        settings.sweep_accounts,
        regions_to_sweep(settings),
        settings.sweep_concurrency,
        organization_accounts,
        findings,
        context,
    )
