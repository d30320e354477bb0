"""Typed models of the ECS resources that policies evaluate.

Field names are the ECS API's camelCase names, so a policy path such as
``containerDefinitions[].image`` reads exactly like the API documentation.
Fields the model does not declare are kept (``extra="allow"``) because AWS keeps
adding fields; they are simply not addressable from policies until declared here.

Scalars that no built-in policy compares are typed loosely (``Scalar``): the
model exists to give policies a checked vocabulary of paths, not to re-validate
what ECS already accepted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict


class Sensitive:
    """Marks a field whose value may be a secret: never shown in evidence or messages."""

    def __repr__(self) -> str:
        return "SENSITIVE"


SENSITIVE = Sensitive()

Scalar = str | int | float | bool | None
# CloudTrail records times as text; boto3 returns datetime objects.
Timestamp = str | int | float | datetime | None
SensitiveStr = Annotated[str | None, SENSITIVE]
SensitiveMap = Annotated[dict[str, Any] | None, SENSITIVE]
# Commands often carry credentials as arguments (--password=...): never shown either.
SensitiveList = Annotated[list[str] | None, SENSITIVE]


class Severity(StrEnum):
    """ASFF severity labels, ordered from least to most severe."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


class ResourceType(StrEnum):
    TASK_DEFINITION = "AWS::ECS::TaskDefinition"
    SERVICE = "AWS::ECS::Service"
    CLUSTER = "AWS::ECS::Cluster"
    TASK_SET = "AWS::ECS::TaskSet"
    TASK = "AWS::ECS::Task"


class EcsModel(BaseModel):
    # defer_build: validators are built on first use, not at import (the Lambda cold start pays less).
    model_config = ConfigDict(extra="allow", frozen=False, populate_by_name=True, defer_build=True)


# --- task definition -------------------------------------------------------


class KeyValuePair(EcsModel):
    name: str | None = None
    value: SensitiveStr = None


class EnvironmentFile(EcsModel):
    value: str | None = None
    type: str | None = None


class Secret(EcsModel):
    name: str | None = None
    valueFrom: SensitiveStr = None


class RepositoryCredentials(EcsModel):
    credentialsParameter: SensitiveStr = None


class PortMapping(EcsModel):
    containerPort: int | None = None
    hostPort: int | None = None
    protocol: str | None = None
    name: str | None = None
    appProtocol: str | None = None
    containerPortRange: str | None = None


class MountPoint(EcsModel):
    sourceVolume: str | None = None
    containerPath: str | None = None
    readOnly: bool | None = None


class VolumeFrom(EcsModel):
    sourceContainer: str | None = None
    readOnly: bool | None = None


class LogConfiguration(EcsModel):
    logDriver: str | None = None
    options: SensitiveMap = None
    secretOptions: list[Secret] | None = None


class FirelensConfiguration(EcsModel):
    type: str | None = None
    options: SensitiveMap = None


class HealthCheck(EcsModel):
    command: SensitiveList = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    startPeriod: int | None = None


class KernelCapabilities(EcsModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class Device(EcsModel):
    hostPath: str | None = None
    containerPath: str | None = None
    permissions: list[str] | None = None


class Tmpfs(EcsModel):
    containerPath: str | None = None
    size: int | None = None
    mountOptions: list[str] | None = None


class LinuxParameters(EcsModel):
    capabilities: KernelCapabilities | None = None
    devices: list[Device] | None = None
    initProcessEnabled: bool | None = None
    sharedMemorySize: int | None = None
    tmpfs: list[Tmpfs] | None = None
    maxSwap: int | None = None
    swappiness: int | None = None


class ContainerDependency(EcsModel):
    containerName: str | None = None
    condition: str | None = None


class HostEntry(EcsModel):
    hostname: str | None = None
    ipAddress: str | None = None


class Ulimit(EcsModel):
    name: str | None = None
    softLimit: int | None = None
    hardLimit: int | None = None


class SystemControl(EcsModel):
    namespace: str | None = None
    value: str | None = None


class ResourceRequirement(EcsModel):
    value: str | None = None
    type: str | None = None


class ContainerRestartPolicy(EcsModel):
    enabled: bool | None = None
    ignoredExitCodes: list[int] | None = None
    restartAttemptPeriod: int | None = None


class ContainerDefinition(EcsModel):
    name: str | None = None
    image: str | None = None
    repositoryCredentials: RepositoryCredentials | None = None
    # Integers in the API; CloudFormation sends a hook (and a template may write) their text, read as the number.
    cpu: int | None = None
    memory: int | None = None
    memoryReservation: int | None = None
    links: list[str] | None = None
    portMappings: list[PortMapping] | None = None
    essential: bool | None = None
    restartPolicy: ContainerRestartPolicy | None = None
    entryPoint: SensitiveList = None
    command: SensitiveList = None
    environment: list[KeyValuePair] | None = None
    environmentFiles: list[EnvironmentFile] | None = None
    mountPoints: list[MountPoint] | None = None
    volumesFrom: list[VolumeFrom] | None = None
    linuxParameters: LinuxParameters | None = None
    secrets: list[Secret] | None = None
    dependsOn: list[ContainerDependency] | None = None
    startTimeout: int | None = None
    stopTimeout: int | None = None
    versionConsistency: str | None = None
    hostname: str | None = None
    user: str | None = None
    workingDirectory: str | None = None
    disableNetworking: bool | None = None
    privileged: bool | None = None
    readonlyRootFilesystem: bool | None = None
    dnsServers: list[str] | None = None
    dnsSearchDomains: list[str] | None = None
    extraHosts: list[HostEntry] | None = None
    dockerSecurityOptions: list[str] | None = None
    interactive: bool | None = None
    pseudoTerminal: bool | None = None
    dockerLabels: SensitiveMap = None
    ulimits: list[Ulimit] | None = None
    logConfiguration: LogConfiguration | None = None
    healthCheck: HealthCheck | None = None
    systemControls: list[SystemControl] | None = None
    resourceRequirements: list[ResourceRequirement] | None = None
    firelensConfiguration: FirelensConfiguration | None = None
    credentialSpecs: list[str] | None = None


class HostVolumeProperties(EcsModel):
    sourcePath: str | None = None


class DockerVolumeConfiguration(EcsModel):
    scope: str | None = None
    autoprovision: bool | None = None
    driver: str | None = None
    driverOpts: SensitiveMap = None
    labels: SensitiveMap = None


class EfsAuthorizationConfig(EcsModel):
    accessPointId: str | None = None
    iam: str | None = None


class EfsVolumeConfiguration(EcsModel):
    fileSystemId: str | None = None
    rootDirectory: str | None = None
    transitEncryption: str | None = None
    transitEncryptionPort: int | None = None
    authorizationConfig: EfsAuthorizationConfig | None = None


class FsxWindowsAuthorizationConfig(EcsModel):
    credentialsParameter: SensitiveStr = None  # an ARN when right, a pasted credential when wrong
    domain: str | None = None


class FsxWindowsFileServerVolumeConfiguration(EcsModel):
    fileSystemId: str | None = None
    rootDirectory: str | None = None
    authorizationConfig: FsxWindowsAuthorizationConfig | None = None


class Volume(EcsModel):
    name: str | None = None
    host: HostVolumeProperties | None = None
    configuredAtLaunch: bool | None = None
    dockerVolumeConfiguration: DockerVolumeConfiguration | None = None
    efsVolumeConfiguration: EfsVolumeConfiguration | None = None
    fsxWindowsFileServerVolumeConfiguration: FsxWindowsFileServerVolumeConfiguration | None = None


class PlacementConstraint(EcsModel):
    type: str | None = None
    expression: str | None = None


class RuntimePlatform(EcsModel):
    cpuArchitecture: str | None = None
    operatingSystemFamily: str | None = None


class EphemeralStorage(EcsModel):
    sizeInGiB: int | None = None


class ProxyConfiguration(EcsModel):
    type: str | None = None
    containerName: str | None = None
    properties: list[KeyValuePair] | None = None


class Tag(EcsModel):
    key: str | None = None
    value: str | None = None


class TaskDefinition(EcsModel):
    taskDefinitionArn: str | None = None
    family: str | None = None
    revision: int | None = None
    status: str | None = None
    containerDefinitions: list[ContainerDefinition] | None = None
    taskRoleArn: str | None = None
    executionRoleArn: str | None = None
    networkMode: str | None = None
    volumes: list[Volume] | None = None
    placementConstraints: list[PlacementConstraint] | None = None
    compatibilities: list[str] | None = None
    requiresCompatibilities: list[str] | None = None
    runtimePlatform: RuntimePlatform | None = None
    cpu: Scalar = None
    memory: Scalar = None
    pidMode: str | None = None
    ipcMode: str | None = None
    proxyConfiguration: ProxyConfiguration | None = None
    ephemeralStorage: EphemeralStorage | None = None
    enableFaultInjection: bool | None = None
    registeredAt: Timestamp = None
    registeredBy: str | None = None
    deregisteredAt: Timestamp = None
    tags: list[Tag] | None = None


# --- service ----------------------------------------------------------------


class CapacityProviderStrategyItem(EcsModel):
    capacityProvider: str | None = None
    weight: int | None = None
    base: int | None = None


class AwsVpcConfiguration(EcsModel):
    subnets: list[str] | None = None
    securityGroups: list[str] | None = None
    assignPublicIp: str | None = None


class NetworkConfiguration(EcsModel):
    awsvpcConfiguration: AwsVpcConfiguration | None = None


class LoadBalancer(EcsModel):
    targetGroupArn: str | None = None
    loadBalancerName: str | None = None
    containerName: str | None = None
    containerPort: int | None = None


class DeploymentCircuitBreaker(EcsModel):
    enable: bool | None = None
    rollback: bool | None = None


class DeploymentConfiguration(EcsModel):
    deploymentCircuitBreaker: DeploymentCircuitBreaker | None = None
    maximumPercent: int | None = None
    minimumHealthyPercent: int | None = None


class DeploymentController(EcsModel):
    type: str | None = None


class PlacementStrategy(EcsModel):
    type: str | None = None
    field: str | None = None


class Service(EcsModel):
    serviceArn: str | None = None
    serviceName: str | None = None
    clusterArn: str | None = None
    cluster: str | None = None
    status: str | None = None
    taskDefinition: str | None = None
    launchType: str | None = None
    capacityProviderStrategy: list[CapacityProviderStrategyItem] | None = None
    platformVersion: str | None = None
    platformFamily: str | None = None
    desiredCount: int | None = None
    runningCount: int | None = None
    pendingCount: int | None = None
    loadBalancers: list[LoadBalancer] | None = None
    networkConfiguration: NetworkConfiguration | None = None
    deploymentConfiguration: DeploymentConfiguration | None = None
    deploymentController: DeploymentController | None = None
    placementConstraints: list[PlacementConstraint] | None = None
    placementStrategy: list[PlacementStrategy] | None = None
    schedulingStrategy: str | None = None
    healthCheckGracePeriodSeconds: int | None = None
    roleArn: str | None = None
    enableECSManagedTags: bool | None = None
    enableExecuteCommand: bool | None = None
    propagateTags: str | None = None
    createdAt: Timestamp = None
    createdBy: str | None = None
    tags: list[Tag] | None = None


class Scale(EcsModel):
    value: float | None = None
    unit: str | None = None


class TaskSet(EcsModel):
    """A task set of a service with the EXTERNAL or CODE_DEPLOY deployment controller (CreateTaskSet, DescribeTaskSets,
    a DescribeServices item's taskSets[]): it carries the task definition, launch settings and network
    configuration that its tasks run with."""

    id: str | None = None
    taskSetArn: str | None = None
    serviceArn: str | None = None
    clusterArn: str | None = None
    startedBy: str | None = None
    externalId: str | None = None
    status: str | None = None  # PRIMARY, ACTIVE or DRAINING
    taskDefinition: str | None = None
    computedDesiredCount: int | None = None
    pendingCount: int | None = None
    runningCount: int | None = None
    createdAt: Timestamp = None
    updatedAt: Timestamp = None
    launchType: str | None = None
    capacityProviderStrategy: list[CapacityProviderStrategyItem] | None = None
    platformVersion: str | None = None
    platformFamily: str | None = None
    networkConfiguration: NetworkConfiguration | None = None
    loadBalancers: list[LoadBalancer] | None = None
    scale: Scale | None = None
    stabilityStatus: str | None = None
    stabilityStatusAt: Timestamp = None
    tags: list[Tag] | None = None


class ContainerOverride(EcsModel):
    """What RunTask and StartTask change of one container, by its name: values ECS applies on top of the task
    definition (a variable of the same name replaced, others added; the command replaced)."""

    name: str | None = None
    command: SensitiveList = None
    environment: list[KeyValuePair] | None = None
    environmentFiles: list[EnvironmentFile] | None = None
    cpu: int | None = None
    memory: int | None = None
    memoryReservation: int | None = None
    resourceRequirements: list[ResourceRequirement] | None = None


class TaskOverride(EcsModel):
    containerOverrides: list[ContainerOverride] | None = None
    cpu: Scalar = None
    memory: Scalar = None
    taskRoleArn: str | None = None
    executionRoleArn: str | None = None
    ephemeralStorage: EphemeralStorage | None = None


class Task(EcsModel):
    """A task started by RunTask or StartTask (a response's tasks[], DescribeTasks, an ECS Task State Change event),
    with the launch settings of its request: judged on them by the launch policies, and on its task definition with
    ``overrides`` applied by the task definition policies."""

    taskArn: str | None = None
    clusterArn: str | None = None
    taskDefinitionArn: str | None = None
    group: str | None = None
    startedBy: str | None = None
    lastStatus: str | None = None
    desiredStatus: str | None = None
    launchType: str | None = None
    capacityProviderName: str | None = None
    capacityProviderStrategy: list[CapacityProviderStrategyItem] | None = None
    platformVersion: str | None = None
    platformFamily: str | None = None
    networkConfiguration: NetworkConfiguration | None = None  # the request's: a task's description has none
    enableExecuteCommand: bool | None = None
    overrides: TaskOverride | None = None
    createdAt: Timestamp = None
    startedAt: Timestamp = None
    stoppedAt: Timestamp = None
    tags: list[Tag] | None = None


class ClusterSetting(EcsModel):
    name: str | None = None
    value: str | None = None


class ExecuteCommandLogConfiguration(EcsModel):
    cloudWatchLogGroupName: str | None = None
    cloudWatchEncryptionEnabled: bool | None = None
    s3BucketName: str | None = None
    s3EncryptionEnabled: bool | None = None
    s3KeyPrefix: str | None = None


class ExecuteCommandConfiguration(EcsModel):
    kmsKeyId: str | None = None
    logging: str | None = None  # NONE, DEFAULT or OVERRIDE
    logConfiguration: ExecuteCommandLogConfiguration | None = None


class ClusterConfiguration(EcsModel):
    executeCommandConfiguration: ExecuteCommandConfiguration | None = None


class Cluster(EcsModel):
    """A cluster (DescribeClusters with its settings and configuration), judged by the cluster policies, and the
    cluster a service runs in: its default capacity provider strategy decides the launch type of a service
    created with neither ``launchType`` nor ``capacityProviderStrategy``."""

    clusterArn: str | None = None
    clusterName: str | None = None
    status: str | None = None
    capacityProviders: list[str] | None = None
    defaultCapacityProviderStrategy: list[CapacityProviderStrategyItem] | None = None
    settings: list[ClusterSetting] | None = None
    configuration: ClusterConfiguration | None = None
    tags: list[Tag] | None = None


MODEL_BY_RESOURCE_TYPE: dict[ResourceType, type[EcsModel]] = {
    ResourceType.TASK_DEFINITION: TaskDefinition,
    ResourceType.SERVICE: Service,
    ResourceType.CLUSTER: Cluster,
    ResourceType.TASK_SET: TaskSet,
    ResourceType.TASK: Task,
}
