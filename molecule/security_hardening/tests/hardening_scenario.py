"""Names and addresses of the security_hardening scenario, as ../molecule.yml sets them up."""
from __future__ import annotations

INSTANCE = "instance-security_hardening"
# The hardened host's address on the allowed and on the denied network.
ALLOWED_ADDRESS = "172.30.61.10"
DENIED_ADDRESS = "172.30.62.10"
# Where the controller (this machine) comes from when it connects over SSH: the allowed network's
# gateway.
CONTROLLER_ADDRESS = "172.30.61.1"

# The clients log in with the operator's key that prepare.yml copied to them.
SSH_OPTIONS = (
    "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    " -o ConnectTimeout=5 -o IdentitiesOnly=yes -i /root/.ssh/id_ed25519"
)

# No registry here: the inner image is the hardened host's static busybox and nothing else.
IMPORT_BUSYBOX_IMAGE = (
    "docker image inspect inferno-busybox:latest >/dev/null 2>&1"
    " || tar -C / -ch bin/busybox | docker import - inferno-busybox:latest"
)
