"""Checks the wireguard role's variables for one host and the network it belongs to.

Runs on the controller (tasks/validate.yml) before the role changes anything, reads one JSON
object on stdin and prints {"errors": ["<variable>: <problem>", ...]}. Preshared keys never reach
it: the task sends whether each one is well formed, not its value.
"""
import base64
import binascii
import ipaddress
import json
import re
import sys

INTERFACE = re.compile(r'^[a-zA-Z0-9_=+.-]{1,15}$')
HOSTNAME = re.compile(r'^(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$')
PREFIXED = re.compile(r'^[^/\s]+/[0-9]{1,3}$')


class Checker(object):
    def __init__(self, data):
        self.data = data
        self.errors = []

    def error(self, variable, problem):
        self.errors.append('%s: %s' % (variable, problem))

    # -- helpers --------------------------------------------------------------------------------

    def integer(self, variable, value, low, high, unit=''):
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            self.error(variable, "'%s' is not a whole number from %d to %d%s" % (value, low, high, unit))
            return None
        if not low <= int(value) <= high:
            self.error(variable, '%s is outside %d-%d%s' % (value, low, high, unit))
            return None
        return int(value)

    @staticmethod
    def interface_address(value):
        """An address with its prefix length (10.99.0.1/24, fd99::1/64), or None."""
        if not isinstance(value, str) or not PREFIXED.match(value.strip()):
            return None
        try:
            return ipaddress.ip_interface(value.strip())
        except ValueError:
            return None

    def network(self, variable, value):
        """A CIDR network without host bits (or a single address), or None after an error."""
        text = str(value).strip()
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                self.error(variable, "'%s' is not an IPv4 or IPv6 network in CIDR notation (%s)" % (text, exc))
                return None
            self.error(variable, "'%s' has host bits set; the network is %s" % (text, loose))
            return None

    @staticmethod
    def is_ip(value):
        try:
            ipaddress.ip_address(value)
            return True
        except ValueError:
            return False

    def endpoint(self, variable, value):
        """host:port, an IPv6 address in brackets ([2001:db8::1]:51820)."""
        text = str(value).strip()
        match = re.match(r'^\[([^\]]+)\]:([0-9]+)$', text) or re.match(r'^([^:\[\]]+):([0-9]+)$', text)
        if not match:
            self.error(variable, "'%s' is not host:port (an IPv6 address goes in brackets: [2001:db8::1]:51820)" % text)
            return
        host, port = match.groups()
        bracketed = text.startswith('[')
        if bracketed and not (self.is_ip(host) and ':' in host):
            self.error(variable, "'%s' is not an IPv6 address" % host)
        elif not bracketed and not (self.is_ip(host) or (HOSTNAME.match(host) and not re.match(r'^[0-9.]+$', host))):
            self.error(variable, "'%s' is not an IPv4 address or a host name" % host)
        self.integer(variable + ' port', port, 1, 65535)

    @staticmethod
    def is_key(value):
        text = str(value or '').strip()
        try:
            return len(text) == 44 and len(base64.b64decode(text, validate=True)) == 32
        except (binascii.Error, ValueError):
            return False

    # -- checks ---------------------------------------------------------------------------------

    def check_interface(self):
        name = self.data['interface']
        if not isinstance(name, str) or not INTERFACE.match(name):
            self.error('wireguard_interface', "'%s' is not an interface name (1-15 of a-z A-Z 0-9 _ = + . -)" % name)

    def own_addresses(self):
        """Valid addresses of this host as {ip: 'wireguard_address[i]'}."""
        addresses = self.data['address']
        mine = {}
        if not isinstance(addresses, list) or not addresses:
            self.error('wireguard_address', 'needs at least one address with its prefix length, e.g. [10.99.0.1/24, fd99::1/64]')
            return mine
        for index, value in enumerate(addresses):
            variable = 'wireguard_address[%d]' % index
            parsed = self.interface_address(value)
            if parsed is None:
                self.error(variable, "'%s' is not an IPv4 or IPv6 address with its prefix length (CIDR), "
                                     "e.g. 10.99.0.1/24 or fd99::1/64" % value)
                continue
            net = parsed.network
            if parsed.version == 4 and net.prefixlen <= 30 and parsed.ip in (net.network_address, net.broadcast_address):
                self.error(variable, "'%s' is the network or broadcast address of %s" % (value, net))
                continue
            if parsed.ip in mine:
                self.error(variable, '%s is already %s' % (parsed.ip, mine[parsed.ip]))
                continue
            mine[parsed.ip] = variable
        return mine

    def check_network(self, mine):
        """No two hosts of the WireGuard network may share an address, whether this host or others."""
        owners = {}
        for other, addresses in sorted(self.data['network'].items()):
            if not isinstance(addresses, list) or not addresses:
                self.error('wireguard_address of %s' % other,
                           'not set; every host of the WireGuard groups needs its tunnel addresses')
                continue
            for value in addresses:
                parsed = self.interface_address(value)
                if parsed is None:
                    self.error('wireguard_address of %s' % other, "'%s' is not an address with its prefix length" % value)
                elif parsed.ip in mine:
                    self.error(mine[parsed.ip], '%s is also an address of %s; every host of the WireGuard network '
                                                'needs addresses of its own' % (parsed.ip, other))
                elif parsed.ip in owners and owners[parsed.ip] != other:
                    self.error('wireguard_address of %s and %s' % (owners[parsed.ip], other),
                               '%s is an address of both; every host of the WireGuard network needs addresses of its own' % parsed.ip)
                else:
                    owners[parsed.ip] = other

    def check_settings(self, mine):
        data = self.data
        self.integer('wireguard_listen_port', data['listen_port'], 1, 65535)
        if str(data['endpoint_port']) != str(data['listen_port']):
            # By default it is the listen port, which is reported above.
            self.integer('wireguard_endpoint_port', data['endpoint_port'], 1, 65535)
        self.integer('wireguard_persistent_keepalive', data['persistent_keepalive'], 0, 65535, ' seconds')
        if data['mtu'] not in (None, ''):
            low = 1280 if any(ip.version == 6 for ip in mine) else 576
            self.integer('wireguard_mtu', data['mtu'], low, 65535, ' (IPv6 needs at least 1280)' if low == 1280 else '')
        for index, value in enumerate(data['dns']):
            if not self.is_ip(str(value)) and not HOSTNAME.match(str(value)):
                self.error('wireguard_dns[%d]' % index, "'%s' is neither an IP address nor a search domain" % value)
        endpoint = data['endpoint']
        if endpoint and not self.is_ip(endpoint) and not (HOSTNAME.match(endpoint) and not re.match(r'^[0-9.]+$', endpoint)):
            self.error('wireguard_endpoint', "'%s' is not an address or host name (the port is wireguard_endpoint_port; "
                                             "no brackets around IPv6 addresses)" % endpoint)
        for index, value in enumerate(data['firewall_sources']):
            self.network('wireguard_firewall_sources[%d]' % index, value)

    def check_external_peers(self, mine):
        routes = {}
        for other in self.data['peers']:
            for value in self.data['network'].get(other) or []:
                parsed = self.interface_address(value)
                if parsed is not None:
                    routes[ipaddress.ip_network(parsed.ip)] = 'peer %s' % other
        names, keys = {}, {}
        inventory = set(self.data['network']) | {self.data['host']}
        for index, peer in enumerate(self.data['external_peers']):
            variable = 'wireguard_external_peers[%d]' % index
            name = peer.get('name')
            if not isinstance(name, str) or not name.strip() or '\n' in name or name != name.strip():
                self.error(variable + '.name', "'%s' must be a non-empty single line without surrounding spaces" % name)
            elif name in names:
                self.error(variable + '.name', "'%s' is already the name of %s" % (name, names[name]))
            elif name in inventory:
                self.error(variable + '.name', "'%s' is an inventory host of the WireGuard network; an external peer "
                                               "needs a name of its own" % name)
            else:
                names[name] = variable
            key = peer.get('public_key')
            if not self.is_key(key):
                self.error(variable + '.public_key', "'%s' is not a WireGuard key (44 characters of base64 encoding "
                                                     "32 bytes, as wg pubkey prints)" % key)
            elif key in keys:
                self.error(variable + '.public_key', 'is already the key of %s' % keys[key])
            else:
                keys[key] = variable
            for number, value in enumerate(peer.get('allowed_ips') or []):
                net = self.network('%s.allowed_ips[%d]' % (variable, number), value)
                if net is None:
                    continue
                if net.num_addresses == 1 and net.network_address in mine:
                    self.error('%s.allowed_ips[%d]' % (variable, number), '%s is an address of this host' % net)
                elif net in routes:
                    self.error('%s.allowed_ips[%d]' % (variable, number), '%s is already routed to %s' % (net, routes[net]))
                else:
                    routes[net] = variable
            if peer.get('endpoint'):
                self.endpoint(variable + '.endpoint', peer['endpoint'])
            if peer.get('persistent_keepalive') is not None:
                self.integer(variable + '.persistent_keepalive', peer['persistent_keepalive'], 0, 65535, ' seconds')
            if peer.get('preshared_key_valid') is False:
                self.error(variable + '.preshared_key', 'is not a WireGuard key (as wg genpsk prints); value not shown')
            if peer.get('preshared_key_valid') is not None and peer.get('preshared_key_file'):
                self.error(variable, 'set preshared_key or preshared_key_file, not both')

    def run(self):
        self.check_interface()
        mine = self.own_addresses()
        self.check_network(mine)
        self.check_settings(mine)
        self.check_external_peers(mine)
        return self.errors


def main():
    errors = Checker(json.load(sys.stdin)).run()
    print(json.dumps({'errors': errors}))


if __name__ == '__main__':
    main()
