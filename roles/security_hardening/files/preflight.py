"""Preflight of inferno.runners.security_hardening: the role's input as JSON on stdin, a verdict as JSON on stdout.

tasks/validate.yml runs this on the target, through become or not: it finds the SSH session it runs
in by walking up the process tree and judges that session's client address, port, login user and
groups the way sshd and the firewall will. It checks that every source is an address or network,
that every port is in 1-65535, and that neither the firewall allowlist nor the sshd access settings
would shut out the connection Ansible uses.
It answers {"errors": [...], "rules": [...], "connection": {...}}: each error names the variable to
fix; the rules are the allowlist flattened and written the way ufw stores it, so that a second run
finds exactly what the first one added. Standard library and Python 3.6 only: RHEL 8's
platform-python is the oldest interpreter a target may have.
"""
import fnmatch
import grp
import ipaddress
import json
import os
import pwd
import re
import sys

PORT_MIN = 1
PORT_MAX = 65535
# The service name ends up in ufw comments and iptables comments.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def parse_source(text):
    """Return (canonical text, network) for an address or CIDR; ufw writes a single host bare."""
    network = ipaddress.ip_network(text, strict=True)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address), network
    return str(network), network


def source_problem(text):
    """Why text is no source, in words that quote nothing (the message passes through YAML)."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return "%s is not an IPv4/IPv6 address or CIDR network" % text
    return "%s has host bits set; the network is %s" % (text, network)


def check_entries(variable, entries, errors, rules, seen):
    for index, entry in enumerate(entries):
        where = "%s[%d]" % (variable, index)
        if not isinstance(entry, dict):
            errors.append("%s: not a mapping with service, port, proto and sources" % where)
            continue
        service = str(entry.get("service", ""))
        if not SERVICE_NAME.match(service):
            errors.append("%s.service: %s must be 1-32 letters, digits, dots, underscores or dashes" % (where, service or "(empty)"))
        port = entry.get("port")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not PORT_MIN <= port <= PORT_MAX:
            errors.append("%s.port: %s is not a port number (%d-%d)" % (where, port, PORT_MIN, PORT_MAX))
            port = None
        proto = entry.get("proto", "tcp")
        if proto not in ("tcp", "udp"):
            errors.append("%s.proto: %s is neither tcp nor udp" % (where, proto))
            proto = None
        sources = entry.get("sources") or []
        if not isinstance(sources, list) or not sources:
            errors.append("%s.sources: give at least one source address or network" % where)
            continue
        for source_index, source in enumerate(sources):
            try:
                canonical, network = parse_source(str(source))
            except ValueError:
                errors.append("%s.sources[%d]: %s" % (where, source_index, source_problem(str(source))))
                continue
            if port is None or proto is None:
                continue
            key = (proto, port, canonical)
            # One firewall rule per (proto, port, source): a second entry naming it again would
            # only fight the first over the rule's comment.
            if key in seen:
                continue
            seen.add(key)
            rules.append({
                "service": service,
                "port": port,
                "proto": proto,
                "source": canonical,
                "family": network.version,
                "network": str(network),
            })


def read_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode("utf-8", "replace"): value.decode("utf-8", "replace") for key, value in pairs}


def status_fields(pid):
    """PPid and the real Uid of a process, from /proc/<pid>/status."""
    fields = {}
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            key, separator, value = line.partition(":")
            if separator and key in ("PPid", "Uid"):
                fields[key] = int(value.split()[0])
    return fields


def ssh_session():
    """(SSH_CONNECTION, uid of the login) of the SSH session this process descends from, or (None, None).

    become (sudo, su) resets the environment and the user before this runs, so the process tree
    is walked up to the first process that still holds SSH_CONNECTION: the login shell, or sudo,
    whose real uid is still the login user's.
    """
    pid = os.getpid()
    while pid > 1:
        try:
            fields = status_fields(pid)
        except OSError:
            break
        connection = read_environ(pid).get("SSH_CONNECTION")
        if connection:
            return connection, fields["Uid"]
        pid = fields.get("PPid", 0)
    return None, None


def login_identity(uid):
    user = pwd.getpwuid(uid)
    group_ids = os.getgrouplist(user.pw_name, user.pw_gid)
    groups = []
    for gid in group_ids:
        try:
            groups.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            groups.append(str(gid))
    return user.pw_name, sorted(set(groups))


def parse_ssh_connection(value):
    """The client address and server port of an SSH_CONNECTION value, or None."""
    parts = (value or "").split()
    if len(parts) != 4:
        return None
    try:
        address = ipaddress.ip_address(parts[0].split("%")[0])
        port = int(parts[3])
    except ValueError:
        return None
    # An IPv4 client of a dual-stack listener is filtered as IPv4.
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return {"address": str(address), "port": port}


def host_pattern_matches(pattern, address):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return fnmatch.fnmatchcase(address, pattern)


def user_pattern_matches(pattern, user, address):
    user_part, host_part = pattern.split("@", 1) if "@" in pattern else (pattern, "")
    if not fnmatch.fnmatchcase(user, user_part):
        return False
    return not host_part or host_pattern_matches(host_part, address)


def check_connection(data, rules, user, groups, connection, errors):
    address = ipaddress.ip_address(connection["address"])
    port = connection["port"]
    if data["firewall_enabled"]:
        covered = any(
            rule["proto"] == "tcp" and rule["port"] == port and address in ipaddress.ip_network(rule["network"])
            for rule in rules
        )
        if not covered:
            errors.append(
                "security_hardening_firewall_allow: no entry (here or in security_hardening_firewall_allow_extra) allows"
                " %s to port %d/tcp, the connection Ansible is using; the firewall would lock it out."
                " Add that address or its network to the sources of the ssh entry." % (address, port)
            )
    if not data["ssh_enabled"]:
        return
    if data["password_login"]:
        errors.append(
            "security_hardening_ssh_enabled: Ansible logs in with a password (ansible_password), but the hardened"
            " sshd accepts keys only; switch Ansible to key authentication or set security_hardening_ssh_enabled=false."
        )
    if user == "root" and data["permit_root_login"] == "no":
        errors.append(
            "security_hardening_ssh_permit_root_login: PermitRootLogin no would lock out Ansible, which logs in as root;"
            " keep prohibit-password or connect as another user with become."
        )
    allow_users = data["allow_users"]
    if allow_users and not any(user_pattern_matches(p, user, str(address)) for p in allow_users):
        errors.append(
            "security_hardening_ssh_allow_users: %s from %s, the login Ansible is using, matches none of %s."
            % (user, address, ", ".join(allow_users))
        )
    allow_groups = data["allow_groups"]
    if allow_groups and not any(fnmatch.fnmatchcase(g, p) for g in groups for p in allow_groups):
        errors.append(
            "security_hardening_ssh_allow_groups: %s, the user Ansible logs in as, is in none of %s (its groups: %s)."
            % (user, ", ".join(allow_groups), ", ".join(groups))
        )


def main():
    data = json.load(sys.stdin)
    errors = []
    rules = []
    seen = set()
    if data["firewall_enabled"]:
        check_entries("security_hardening_firewall_allow", data["allow"], errors, rules, seen)
        check_entries("security_hardening_firewall_allow_extra", data["allow_extra"], errors, rules, seen)
    raw_connection, uid = ssh_session()
    connection = parse_ssh_connection(raw_connection)
    user = None
    # Without an SSH session above it, Ansible reaches the host some other way (docker exec,
    # local): neither sshd nor the firewall stands between them.
    if connection is not None:
        user, groups = login_identity(uid)
        check_connection(data, rules, user, groups, connection, errors)
    json.dump({"errors": errors, "rules": rules, "connection": connection, "user": user}, sys.stdout)


if __name__ == "__main__":
    main()
