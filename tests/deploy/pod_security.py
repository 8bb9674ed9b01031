"""The "restricted" Pod Security Standard as a pure check of a pod spec (what the namespace's admission enforces).

https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted, latest): no host namespaces
or ports, no privileged containers, only these volume types, non-root, no privilege escalation, all
capabilities dropped (NET_BIND_SERVICE may be added back), and a RuntimeDefault or Localhost seccomp profile.
"""

from __future__ import annotations

from typing import Any

VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SECCOMP = {"RuntimeDefault", "Localhost"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What keeps this pod spec out of a namespace that enforces "restricted" (empty: admitted)."""
    found = [f"spec.{key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            found.append(f"volume {volume.get('name')}: {sorted(kinds - VOLUME_TYPES)}")
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    containers = [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]
    if not containers:
        found.append("no containers")
    for container in containers:
        name = container.get("name", "?")
        security = container.get("securityContext", {})
        if security.get("privileged"):
            found.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {capabilities['add']}")
        if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if security.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        if seccomp.get("type") not in SECCOMP:
            found.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found
