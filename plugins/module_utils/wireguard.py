# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""WireGuard keys and wg-quick configuration files.

Used by the ``inferno.runners.wireguard_peer`` and ``inferno.runners.wireguard_key`` modules.
Names starting with ``_`` are private to this collection and may change in any release; the
argument specs, the validators, ``WgConfig``, ``redact``, ``WireGuardPeers`` and ``WireGuardKey``
are the supported surface.

This file runs on the managed host: it must stay compatible with Python 3.8 and the standard
library; ``cryptography`` is optional (key generation falls back to it when ``wg`` is missing).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import stat
import tempfile
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native, to_text

try:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None


_PEER_FIELDS = dict(
    allowed_ips=dict(type='list', elements='str'),
    endpoint=dict(type='str'),
    persistent_keepalive=dict(type='int'),
    preshared_key=dict(type='str', no_log=True),
    preshared_key_file=dict(type='path', no_log=False),
    name=dict(type='str'),
)

PEER_ARGUMENT_SPEC = dict(
    path=dict(type='path', default='/etc/wireguard/wg0.conf'),
    interface=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    public_key=dict(type='str', no_log=False),
    peers=dict(
        type='list',
        elements='dict',
        options=dict(public_key=dict(type='str', required=True, no_log=False), **_PEER_FIELDS),
        mutually_exclusive=[('preshared_key', 'preshared_key_file')],
    ),
    exclusive=dict(type='bool', default=False),
    apply=dict(type='str', default='auto', choices=['auto', 'always', 'never']),
    **_PEER_FIELDS
)
PEER_MUTUALLY_EXCLUSIVE = [('public_key', 'peers'), ('preshared_key', 'preshared_key_file')] + [
    ('peers', field) for field in sorted(_PEER_FIELDS)
]
PEER_REQUIRED_ONE_OF = [('public_key', 'peers')]

KEY_ARGUMENT_SPEC = dict(
    path=dict(type='path', default='/etc/wireguard/wg0.key'),
    config=dict(type='path'),
    backend=dict(type='str', default='auto', choices=['auto', 'wg', 'cryptography']),
)

# wg-quick reads these itself and `wg` rejects them, so `wg-quick strip` drops them from
# [Interface] (parse_options() in wg-quick.bash); keys are compared case-insensitively there too.
WG_QUICK_ONLY_KEYS = frozenset(('address', 'dns', 'mtu', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig'))
SECRET_KEYS = frozenset(('privatekey', 'presharedkey'))
REDACTED = '<redacted>'

# The order of the lines of a new peer; a line added to an existing peer goes after its predecessors.
_PEER_KEY_ORDER = ('publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive')
_INTERFACE_RE = re.compile(r'^[a-zA-Z0-9_=+.-]{1,15}$')
_CONFIG_NAME_RE = re.compile(r'^([a-zA-Z0-9_=+.-]{1,15})\.conf$')
_NAME_COMMENT_RE = re.compile(r'^\s*#\s*name\s*=\s*(.*?)\s*$', re.IGNORECASE)
_HOSTNAME_RE = re.compile(r'^(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$')
# wg reads its configuration with getline(), so only LF ends a line; a CR stays part of it.
_LINE_RE = re.compile(r'[^\n]*\n|[^\n]+\Z')


class WireGuardOptionError(ValueError):
    """Bad input, reported as ``<option>: <problem>`` so the user knows what to fix."""

    def __init__(self, option, problem):
        self.option = option
        self.problem = problem
        super(WireGuardOptionError, self).__init__('%s: %s' % (option, problem))


# ---------------------------------------------------------------------------------------------
# Validators


def canonical_key(value, option, secret=False):
    """Return the standard base64 form of a WireGuard key, or raise naming ``option``."""
    text = to_text(value if value is not None else '').strip()
    raw = b''
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    if len(text) != 44 or len(raw) != 32:
        shown = '' if secret else " '%s'" % text
        raise WireGuardOptionError(
            option,
            'value%s is not a WireGuard key (44 characters of base64 encoding exactly 32 bytes, '
            'as printed by wg genkey, wg pubkey or wg genpsk)' % shown,
        )
    return to_text(base64.b64encode(raw))


def canonical_allowed_ips(values, option):
    """Validate CIDRs (IPv4 and IPv6) and return them in canonical form, duplicates dropped."""
    result = []
    for item in values:
        # "10.0.0.0/24, fd00::/64" in one item is how wg-quick writes them; accept it as well.
        for part in to_text(item).split(','):
            entry = part.strip()
            if not entry:
                raise WireGuardOptionError(option, 'contains an empty entry')
            if '%' in entry:
                raise WireGuardOptionError(option, "'%s' has a scope id, which WireGuard does not accept" % entry)
            try:
                network = ipaddress.ip_network(entry, strict=True)
            except ValueError as exc:
                try:
                    loose = ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise WireGuardOptionError(
                        option, "'%s' is not an IPv4 or IPv6 network in CIDR notation (%s)" % (entry, exc))
                raise WireGuardOptionError(
                    option, "'%s' has host bits set; the network is %s" % (entry, loose))
            canonical = str(network)
            if canonical not in result:
                result.append(canonical)
    return result


def _loose_network(entry):
    """Canonical form of an AllowedIPs entry read from a file, as wg would mask it."""
    try:
        return str(ipaddress.ip_network(entry.strip(), strict=False))
    except ValueError:
        return entry.strip()


def parse_endpoint(value, option):
    """Validate ``host:port`` (IPv6 as ``[address]:port``) and return ``(host, port)``, normalised."""
    text = to_text(value).strip()
    if text.startswith('['):
        match = re.match(r'^\[([^\]]*)\]:(.*)$', text)
        if not match:
            raise WireGuardOptionError(option, "'%s' is not [IPv6 address]:port" % text)
        host, port = match.group(1), match.group(2)
        try:
            host = ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise WireGuardOptionError(option, "'%s' is not an IPv6 address" % host)
    else:
        host, sep, port = text.rpartition(':')
        if not sep or not host:
            raise WireGuardOptionError(option, "'%s' is not host:port" % text)
        if ':' in host:
            raise WireGuardOptionError(
                option, "'%s' looks like an IPv6 address; write it in brackets, as [%s]:%s" % (text, host, port))
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if re.match(r'^[0-9.]+$', host) or not _HOSTNAME_RE.match(host):
                raise WireGuardOptionError(option, "'%s' is not an IPv4 address or a host name" % host)
            host = host.lower().rstrip('.')
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise WireGuardOptionError(option, "port '%s' is not a number from 1 to 65535" % port)
    return host, int(port)


def _endpoint_or_none(value):
    try:
        return parse_endpoint(value, 'endpoint')
    except WireGuardOptionError:
        return value


def check_keepalive(value, option):
    if value is not None and not 0 <= value <= 65535:
        raise WireGuardOptionError(option, 'must be from 0 to 65535 seconds, got %s' % value)
    return value


def check_name(value, option):
    if value is not None and ('\n' in value or '\r' in value):
        raise WireGuardOptionError(option, 'must be a single line')
    return None if value is None else value.strip()


def interface_name(path, interface):
    """The interface a config belongs to: ``interface``, else wg-quick's rule (<name>.conf)."""
    if interface is not None:
        if not _INTERFACE_RE.match(interface):
            raise WireGuardOptionError(
                'interface', "'%s' is not a valid interface name (1-15 of a-z A-Z 0-9 _ = + . -)" % interface)
        return interface
    match = _CONFIG_NAME_RE.match(os.path.basename(path))
    if not match:
        raise WireGuardOptionError(
            'interface', "cannot derive the interface from path '%s' (wg-quick needs <interface>.conf); set interface" % path)
    return match.group(1)


# ---------------------------------------------------------------------------------------------
# wg-quick configuration files


def _classify(raw):
    """Return ``(kind, key, value)`` for one line, read the way wg's config parser reads it."""
    content = raw.split('#', 1)[0].strip()
    if not content:
        return ('comment' if raw.strip().startswith('#') else 'blank'), None, None
    if content.startswith('['):
        return 'header', ''.join(content.split()).lower(), None
    key, sep, value = content.partition('=')
    if not sep:
        return 'other', None, None
    return 'key', key.strip().lower(), value.strip()


def _split_eol(raw):
    if raw.endswith('\r\n'):
        return raw[:-2], '\r\n'
    if raw.endswith('\n'):
        return raw[:-1], '\n'
    return raw, ''


def _replace_value(raw, value):
    """Put ``value`` on a ``Key = value`` line, keeping its indent, key spelling and comment."""
    content, eol = _split_eol(raw)
    hash_at = content.find('#')
    comment = content[hash_at:] if hash_at >= 0 else ''
    before = content[:hash_at] if hash_at >= 0 else content
    key_part, dummy, old = before.partition('=')
    stripped = old.strip()
    if stripped:
        lead = old[:old.index(stripped)]
        trail = old[old.index(stripped) + len(stripped):]
    else:
        lead, trail = old, ''
    if comment and not trail:
        trail = ' '
    return key_part + '=' + (lead or ' ') + value + (trail if comment else '') + comment + eol


class _Gap(object):
    """Blank lines and comments between sections, kept when a neighbouring section goes."""

    def __init__(self, lines):
        self.lines = lines

    def render(self):
        return ''.join(self.lines)

    def is_blank(self):
        return all(_classify(line)[0] == 'blank' for line in self.lines)


class _Section(object):
    """A ``[Interface]`` or ``[Peer]`` section.

    ``lead`` holds the comment lines directly above the header (a description of the section),
    ``body`` the lines after it up to the last key line, plus comments that directly follow it.
    """

    def __init__(self, header, body, lead=None):
        self.lead = lead or []
        self.header = header
        self.body = body

    @property
    def kind(self):
        return _classify(self.header)[1]

    def render(self):
        return ''.join(self.lead) + self.header + ''.join(self.body)

    def _indexes(self, key):
        return [i for i, raw in enumerate(self.body) if _classify(raw)[:2] == ('key', key)]

    def values(self, key):
        return [_classify(self.body[i])[2] for i in self._indexes(key)]

    def last(self, key):
        values = self.values(key)
        return values[-1] if values else None

    def _name_index(self):
        for i, raw in enumerate(self.body):
            if _classify(raw)[0] == 'comment' and _NAME_COMMENT_RE.match(raw):
                return i
        return None

    def name(self):
        index = self._name_index()
        return None if index is None else _NAME_COMMENT_RE.match(self.body[index]).group(1)

    def _insert_index(self, key, first=False):
        """Where a new ``key`` line goes: after the keys that precede it in a peer written from scratch."""
        name_index = self._name_index()
        start = 0 if name_index is None else name_index + 1
        if first:
            return start
        earlier = _PEER_KEY_ORDER[:_PEER_KEY_ORDER.index(key)] if key in _PEER_KEY_ORDER else ()
        anchors = [i for i, raw in enumerate(self.body) if _classify(raw)[:2] in [('key', k) for k in earlier]]
        if not anchors:
            anchors = [i for i, raw in enumerate(self.body) if _classify(raw)[0] in ('key', 'other')]
        return anchors[-1] + 1 if anchors else start

    def set(self, display, value, newline, first=False):
        """Set a single-valued key; the last line of it (the one wg obeys) is the one kept."""
        indexes = self._indexes(display.lower())
        if value is None:
            for i in reversed(indexes):
                del self.body[i]
            return
        if not indexes:
            self.body.insert(self._insert_index(display.lower(), first), '%s = %s%s' % (display, value, newline))
            return
        self.body[indexes[-1]] = _replace_value(self.body[indexes[-1]], value)
        for i in reversed(indexes[:-1]):
            del self.body[i]

    def set_allowed_ips(self, networks, newline):
        """Several AllowedIPs lines add up; a change merges them into the first one."""
        indexes = self._indexes('allowedips')
        if not networks:
            for i in reversed(indexes):
                del self.body[i]
        elif not indexes:
            self.body.insert(self._insert_index('allowedips'), 'AllowedIPs = %s%s' % (', '.join(networks), newline))
        else:
            self.body[indexes[0]] = _replace_value(self.body[indexes[0]], ', '.join(networks))
            for i in reversed(indexes[1:]):
                del self.body[i]

    def set_name(self, name, newline):
        index = self._name_index()
        if not name:
            if index is not None:
                del self.body[index]
        elif index is None:
            self.body.insert(0, '# Name = %s%s' % (name, newline))
        else:
            content, eol = _split_eol(self.body[index])
            self.body[index] = content[:content.index('#')] + '# Name = ' + name + eol

    def allowed_ips(self):
        result = []
        for value in self.values('allowedips'):
            for entry in value.split(','):
                if entry.strip() and _loose_network(entry) not in result:
                    result.append(_loose_network(entry))
        return result

    def public_key(self):
        try:
            return canonical_key(self.last('publickey'), 'PublicKey')
        except WireGuardOptionError:
            return None


class WgConfig(object):
    """A wg-quick configuration that renders back byte for byte what it parsed.

    Only the sections that are edited change; everything else (comments, blank lines, key case,
    hooks, unknown keys) is carried through untouched.
    """

    def __init__(self, items, newline):
        self.items = items
        self.newline = newline

    @classmethod
    def parse(cls, text):
        lines = _LINE_RE.findall(text)
        newline = '\r\n' if lines and lines[0].endswith('\r\n') else '\n'
        kinds = [_classify(line)[0] for line in lines]
        headers = [i for i, kind in enumerate(kinds) if kind == 'header']
        if not headers:
            return cls([_Gap(lines)] if lines else [], newline)

        def last_content(header, end):
            found = header
            for i in range(header + 1, end):
                if kinds[i] in ('key', 'other'):
                    found = i
            return found

        items = []
        sections = []
        start = 0
        for number, header in enumerate(headers):
            end = headers[number + 1] if number + 1 < len(headers) else len(lines)
            region = list(range(start, header))
            lead = []
            while region and kinds[region[-1]] == 'comment':
                lead.insert(0, region.pop())
            if sections:
                tail = []
                while region and kinds[region[0]] == 'comment':
                    tail.append(region.pop(0))
                sections[-1].body.extend(lines[i] for i in tail)
            if region:
                items.append(_Gap([lines[i] for i in region]))
            content_end = last_content(header, end)
            section = _Section(lines[header], [lines[i] for i in range(header + 1, content_end + 1)],
                               [lines[i] for i in lead])
            sections.append(section)
            items.append(section)
            start = content_end + 1
        region = list(range(start, len(lines)))
        while region and kinds[region[0]] == 'comment':
            sections[-1].body.append(lines[region.pop(0)])
        if region:
            items.append(_Gap([lines[i] for i in region]))
        return cls(items, newline)

    def render(self):
        return ''.join(item.render() for item in self.items)

    def sections(self, kind):
        return [item for item in self.items if isinstance(item, _Section) and item.kind == kind]

    def interface(self):
        sections = self.sections('[interface]')
        return sections[0] if sections else None

    def peers(self):
        return self.sections('[peer]')

    def remove(self, section):
        index = self.items.index(section)
        del self.items[index]
        following = self.items[index] if index < len(self.items) else None
        is_last = not any(isinstance(item, _Section) for item in self.items[index:])
        # Drop one separator with the section so no double blank lines are left behind.
        if isinstance(following, _Gap) and following.is_blank():
            del self.items[index]
        elif is_last and index > 0 and isinstance(self.items[index - 1], _Gap) and self.items[index - 1].is_blank():
            del self.items[index - 1]

    def _end_with_newline(self):
        for item in reversed(self.items):
            lines = item.lines if isinstance(item, _Gap) else (item.body or [item.header])
            if lines:
                if not lines[-1].endswith('\n'):
                    lines[-1] += self.newline
                return lines[-1]
        return None

    def append(self, section):
        last_line = self._end_with_newline()
        if last_line is not None and last_line.strip():
            self.items.append(_Gap([self.newline]))
        self.items.append(section)

    def add_interface(self):
        """Insert an empty [Interface] section above the first section."""
        section = _Section('[Interface]' + self.newline, [])
        index = next((i for i, item in enumerate(self.items) if isinstance(item, _Section)), None)
        if index is None:
            self.append(section)
        else:
            self.items[index:index] = [section, _Gap([self.newline])]
        return section

    def stripped(self, live=None):
        """What ``wg-quick strip`` prints, plus ``live`` interface keys the file does not set.

        ``live`` maps display names (``PrivateKey``, ``ListenPort``, ``FwMark``) to values read from
        the running interface: `wg syncconf` resets whatever the file leaves out, so a key that a
        PostUp hook loaded would otherwise be wiped and the listening port moved.
        """
        out = []
        interface_seen = False
        in_interface = False
        for raw in _LINE_RE.findall(self.render()):
            kind, key, dummy = _classify(raw)
            if kind == 'header':
                in_interface = key == '[interface]'
                if in_interface and not interface_seen:
                    interface_seen = True
                    out.append(raw if raw.endswith('\n') else raw + '\n')
                    out.extend(self._live_lines(live))
                    continue
            if in_interface and kind == 'key' and key in WG_QUICK_ONLY_KEYS:
                continue
            out.append(raw if raw.endswith('\n') else raw + '\n')
        if not interface_seen and live:
            out[0:0] = ['[Interface]\n'] + self._live_lines(live)
        return ''.join(out)

    def _live_lines(self, live):
        interface = self.interface()
        lines = []
        for display, value in sorted((live or {}).items()):
            if interface is None or interface.last(display.lower()) is None:
                lines.append('%s = %s\n' % (display, value))
        return lines


def redact(text):
    """The config with every PrivateKey and PresharedKey value replaced by ``<redacted>``."""
    out = []
    for raw in _LINE_RE.findall(text or ''):
        kind, key, dummy = _classify(raw)
        out.append(_replace_value(raw, REDACTED) if kind == 'key' and key in SECRET_KEYS else raw)
    return ''.join(out)


# ---------------------------------------------------------------------------------------------
# Files


def _read_text(module, path, option):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='%s: cannot read %s: %s' % (option, path, to_native(exc)))
    # surrogateescape keeps stray non-UTF-8 bytes so untouched lines are written back unchanged.
    return data.decode('utf-8', 'surrogateescape')


def _stage(module, path, text, option='path'):
    """Write ``text`` next to ``path`` in a 0600 temporary file and return its name."""
    directory = os.path.dirname(path) or '.'
    try:
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    except (IOError, OSError) as exc:
        module.fail_json(msg='%s: cannot create a file in %s: %s' % (option, directory, to_native(exc)))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(text.encode('utf-8', 'surrogateescape'))
            handle.flush()
            os.fsync(handle.fileno())
    except Exception:
        os.unlink(tmp)
        raise
    return tmp


def _commit(module, tmp, path, option='path'):
    """Rename ``tmp`` over ``path``: an existing file keeps its mode and owner, a new one is 0600."""
    # atomic_move gives a new file 0666 & ~umask; this umask makes that 0600 from the first instant.
    previous = os.umask(0o077)
    try:
        module.atomic_move(tmp, path)
    except Exception as exc:
        module.fail_json(msg='%s: cannot replace %s: %s' % (option, path, to_native(exc)))
    finally:
        os.umask(previous)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write(module, path, text, option='path'):
    _commit(module, _stage(module, path, text, option), path, option)


# ---------------------------------------------------------------------------------------------
# wireguard_peer


def _keepalive_seconds(value):
    """Seconds a PersistentKeepalive line sets; absent and ``off`` are 0, garbage is ``None``."""
    if value is None or value.lower() == 'off':
        return 0
    return int(value) if value.isdigit() else None


def _key_or_none(value):
    try:
        return canonical_key(value, 'key', secret=True)
    except WireGuardOptionError:
        return None


class _PeerSpec(object):
    """One desired peer, validated; ``None`` means the module leaves that setting alone."""

    def __init__(self, params, prefix, read_file):
        def option(name):
            return prefix + name

        self.public_key = canonical_key(params['public_key'], option('public_key'))
        allowed = params.get('allowed_ips')
        self.allowed_ips = None if allowed is None else canonical_allowed_ips(allowed, option('allowed_ips'))
        endpoint = params.get('endpoint')
        self.endpoint = None if endpoint is None else endpoint.strip()
        self.endpoint_parsed = parse_endpoint(self.endpoint, option('endpoint')) if self.endpoint else None
        self.keepalive = check_keepalive(params.get('persistent_keepalive'), option('persistent_keepalive'))
        self.name = check_name(params.get('name'), option('name'))
        psk = params.get('preshared_key')
        if params.get('preshared_key_file') is not None:
            psk = read_file(params['preshared_key_file'], option('preshared_key_file'))
        elif psk is not None and psk.strip():
            psk = canonical_key(psk, option('preshared_key'), secret=True)
        elif psk is not None:
            psk = ''
        self.preshared_key = psk

    def section(self, newline):
        lines = []
        if self.name:
            lines.append('# Name = %s' % self.name)
        lines.append('PublicKey = %s' % self.public_key)
        if self.preshared_key:
            lines.append('PresharedKey = %s' % self.preshared_key)
        if self.allowed_ips:
            lines.append('AllowedIPs = %s' % ', '.join(self.allowed_ips))
        if self.endpoint:
            lines.append('Endpoint = %s' % self.endpoint)
        if self.keepalive:
            lines.append('PersistentKeepalive = %d' % self.keepalive)
        return _Section('[Peer]' + newline, [line + newline for line in lines])

    def update(self, section, newline):
        """Bring ``section`` in line with this spec; return the names of the settings changed."""
        changed = []
        if self.allowed_ips is not None and set(section.allowed_ips()) != set(self.allowed_ips):
            section.set_allowed_ips(self.allowed_ips, newline)
            changed.append('allowed_ips')
        if self.endpoint is not None:
            current = section.last('endpoint')
            if not self.endpoint and current is not None:
                section.set('Endpoint', None, newline)
                changed.append('endpoint')
            elif self.endpoint and (current is None or _endpoint_or_none(current) != self.endpoint_parsed):
                section.set('Endpoint', self.endpoint, newline)
                changed.append('endpoint')
        if self.keepalive is not None:
            current = _keepalive_seconds(section.last('persistentkeepalive'))
            if self.keepalive == 0 and current != 0:
                section.set('PersistentKeepalive', None, newline)
                changed.append('persistent_keepalive')
            elif self.keepalive and current != self.keepalive:
                section.set('PersistentKeepalive', str(self.keepalive), newline)
                changed.append('persistent_keepalive')
        if self.preshared_key is not None:
            current = section.last('presharedkey')
            if not self.preshared_key and current is not None:
                section.set('PresharedKey', None, newline)
                changed.append('preshared_key')
            elif self.preshared_key and _key_or_none(current) != self.preshared_key:
                section.set('PresharedKey', self.preshared_key, newline)
                changed.append('preshared_key')
        if self.name is not None and (section.name() or '') != self.name:
            section.set_name(self.name, newline)
            changed.append('name')
        return changed


class WireGuardPeers(object):
    """Edits the [Peer] sections of one wg-quick config and syncs a running interface."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = os.path.realpath(module.params['path'])

    def fail(self, error):
        self.module.fail_json(msg=str(error))

    def _read_psk_file(self, path, option):
        if not os.path.isfile(path):
            raise WireGuardOptionError(option, '%s does not exist or is not a file' % path)
        value = canonical_key(_read_text(self.module, path, option), option, secret=True)
        self.module.no_log_values.add(value)
        return value

    def _specs(self):
        params = self.params
        if params['peers'] is None:
            return [_PeerSpec(params, '', self._read_psk_file)]
        specs = []
        seen = {}
        for index, item in enumerate(params['peers']):
            spec = _PeerSpec(item, 'peers[%d].' % index, self._read_psk_file)
            if spec.public_key in seen:
                raise WireGuardOptionError(
                    'peers[%d].public_key' % index, 'peer %s is already listed as peers[%d]' % (spec.public_key, seen[spec.public_key]))
            seen[spec.public_key] = index
            specs.append(spec)
        return specs

    def _wg(self, required):
        wg = self.module.get_bin_path('wg')
        if wg is None and required:
            self.module.fail_json(msg='apply: wg (wireguard-tools) was not found on the host')
        return wg

    def _interface_up(self, interface):
        wg = self._wg(self.params['apply'] == 'always')
        if wg is None:
            return False, 'wg is not installed'
        rc, dummy, err = self.module.run_command([wg, 'show', interface])
        return rc == 0, err.strip()

    def _live_settings(self, wg, interface):
        """The running interface's key, port and fwmark, which `wg syncconf` would otherwise reset."""
        live = {}
        for display, field, unset in (('PrivateKey', 'private-key', '(none)'), ('ListenPort', 'listen-port', '0'),
                                      ('FwMark', 'fwmark', 'off')):
            rc, out, dummy = self.module.run_command([wg, 'show', interface, field])
            value = out.strip()
            if rc == 0 and value and value != unset:
                live[display] = value
        if 'PrivateKey' in live:
            self.module.no_log_values.add(live['PrivateKey'])
        return live

    def _syncconf(self, interface, config):
        wg = self._wg(True)
        text = config.stripped(self._live_settings(wg, interface))
        fd, tmp = tempfile.mkstemp(prefix='.wg-syncconf-%s-' % interface, suffix='.conf', dir=self.module.tmpdir)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(text.encode('utf-8', 'surrogateescape'))
            rc, dummy, err = self.module.run_command([wg, 'syncconf', interface, tmp])
            if rc != 0:
                self.module.fail_json(
                    msg='apply: wg syncconf %s failed (rc %d): %s; %s was left unchanged' % (interface, rc, err.strip(), self.path))
        finally:
            os.unlink(tmp)

    def _edit(self, config, specs):
        present = self.params['state'] == 'present'
        added, updated, removed = [], [], []
        by_key = {}
        for section in config.peers():
            by_key.setdefault(section.public_key(), []).append(section)
        wanted = set(spec.public_key for spec in specs)
        for spec in specs:
            sections = by_key.get(spec.public_key, [])
            if not present:
                for section in sections:
                    config.remove(section)
                if sections:
                    removed.append(spec.public_key)
                continue
            if not sections:
                config.append(spec.section(config.newline))
                added.append(spec.public_key)
                continue
            # wg merges repeated sections of one peer; keeping one makes the file say what runs.
            changes = spec.update(sections[0], config.newline)
            for duplicate in sections[1:]:
                config.remove(duplicate)
            if changes or sections[1:]:
                updated.append({'public_key': spec.public_key, 'changed': changes + (['duplicates'] if sections[1:] else [])})
        if self.params['exclusive']:
            for key, sections in by_key.items():
                if key not in wanted:
                    for section in sections:
                        config.remove(section)
                    removed.append(key if key is not None else '(section without a valid PublicKey)')
        return added, updated, removed

    def run(self):
        params = self.params
        try:
            interface = interface_name(params['path'], params['interface'])
            if params['exclusive'] and params['peers'] is None:
                raise WireGuardOptionError(
                    'exclusive', 'needs the peers list; with public_key each task of a loop would remove the peers the others added')
            if params['exclusive'] and params['state'] == 'absent':
                raise WireGuardOptionError('exclusive', 'cannot be combined with state=absent')
            specs = self._specs()
        except WireGuardOptionError as error:
            self.fail(error)

        exists = os.path.exists(self.path)
        if exists and not os.path.isfile(self.path):
            self.module.fail_json(msg='path: %s is not a regular file' % self.path)
        if not exists and not os.path.isdir(os.path.dirname(self.path) or '.'):
            self.module.fail_json(msg='path: the directory of %s does not exist' % self.path)
        before = _read_text(self.module, self.path, 'path') if exists else ''
        config = WgConfig.parse(before)
        for section in config.sections('[interface]') + config.peers():
            for key in SECRET_KEYS:
                for value in section.values(key):
                    if value:
                        self.module.no_log_values.add(value)

        added, updated, removed = self._edit(config, specs)
        after = config.render()
        changed = after != before and (exists or after != '')

        up, reason = False, ''
        if params['apply'] == 'always' or (changed and (params['apply'] == 'auto' or self._save_config(config))):
            up, reason = self._interface_up(interface)
        if params['apply'] == 'always' and not up:
            self.module.fail_json(msg='apply: apply=always but interface %s is not up (%s)' % (interface, reason or 'wg show failed'))

        applied = False
        if changed and not self.module.check_mode:
            tmp = _stage(self.module, self.path, after)
            try:
                # Running interface first: if wg syncconf fails the file stays as it was, so the
                # next run sees the difference again instead of a file that was never applied.
                if up and params['apply'] != 'never':
                    self._syncconf(interface, config)
                    applied = True
                _commit(self.module, tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            if up and params['apply'] == 'never' and self._save_config(config):
                self.module.warn(
                    'SaveConfig is true in %s and %s is up: wg-quick down will overwrite this change with the '
                    'running configuration unless it is applied first' % (self.path, interface))
        self._warn_world_readable(exists)

        result = dict(changed=changed, path=self.path, interface=interface, applied=applied,
                      added=added, updated=updated, removed=removed)
        if self.module._diff:
            result['diff'] = dict(before=redact(before), after=redact(after),
                                  before_header=self.path, after_header=self.path)
        self.module.exit_json(**result)

    @staticmethod
    def _save_config(config):
        interface = config.interface()
        value = interface.last('saveconfig') if interface is not None else None
        return (value or '').lower() == 'true'

    def _warn_world_readable(self, exists):
        if not exists:
            return
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        if mode & 0o007:
            self.module.warn('%s is accessible by other users (mode %04o) and may hold private or preshared keys; '
                             'wg-quick warns about it too' % (self.path, mode))


# ---------------------------------------------------------------------------------------------
# wireguard_key


def _clamp(raw):
    """Clamp 32 random bytes into a Curve25519 private key, as `wg genkey` does."""
    key = bytearray(raw)
    key[0] &= 248
    key[31] = (key[31] & 127) | 64
    return bytes(key)


class _WgBackend(object):
    name = 'wg'

    def __init__(self, module, wg):
        self.module = module
        self.wg = wg

    def _run(self, args, data=None):
        rc, out, err = self.module.run_command([self.wg] + args, data=data)
        if rc != 0:
            self.module.fail_json(msg='backend: wg %s failed (rc %d): %s' % (args[0], rc, err.strip()))
        return out.strip()

    def generate(self):
        private = canonical_key(self._run(['genkey']), 'backend', secret=True)
        self.module.no_log_values.add(private)
        return private

    def public_key(self, private):
        # On stdin, never on argv, where `ps` would show it.
        return canonical_key(self._run(['pubkey'], data=private), 'backend')


class _CryptographyBackend(object):
    name = 'cryptography'

    def __init__(self, module):
        self.module = module

    def generate(self):
        private = to_text(base64.b64encode(_clamp(os.urandom(32))))
        self.module.no_log_values.add(private)
        return private

    def public_key(self, private):
        key = X25519PrivateKey.from_private_bytes(base64.b64decode(private))
        return to_text(base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)))


class WireGuardKey(object):
    """Makes sure a host has a WireGuard private key file and reports its public key."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = os.path.realpath(module.params['path'])
        self.config_path = os.path.realpath(module.params['config']) if module.params['config'] else None

    def _backend(self):
        choice = self.params['backend']
        wg = self.module.get_bin_path('wg')
        if choice == 'wg' or (choice == 'auto' and wg):
            if not wg:
                self.module.fail_json(msg='backend: backend=wg but wg (wireguard-tools) was not found on the host')
            return _WgBackend(self.module, wg)
        if not HAS_CRYPTOGRAPHY:
            reason = 'for backend=cryptography' if choice == 'cryptography' else \
                'to handle WireGuard keys on a host without wg (wireguard-tools)'
            self.module.fail_json(msg='backend: ' + missing_required_lib('cryptography', reason=reason),
                                  exception=CRYPTOGRAPHY_IMPORT_ERROR)
        return _CryptographyBackend(self.module)

    def _read_key_file(self):
        if not os.path.lexists(self.path):
            return None
        if not os.path.isfile(self.path):
            self.module.fail_json(msg='path: %s exists but is not a regular file' % self.path)
        text = _read_text(self.module, self.path, 'path')
        try:
            key = canonical_key(text, 'path', secret=True)
        except WireGuardOptionError:
            self.module.fail_json(
                msg='path: %s exists but does not hold a WireGuard private key (one line of base64 encoding 32 bytes, '
                    'as wg genkey writes); it was left untouched: move it away or point path elsewhere' % self.path)
        self.module.no_log_values.add(text.strip())
        self.module.no_log_values.add(key)
        return key

    def _read_config(self):
        """The config's text and parsed form and the PrivateKey of its [Interface], if any."""
        if self.config_path is None:
            return None, None, None
        if os.path.exists(self.config_path) and not os.path.isfile(self.config_path):
            self.module.fail_json(msg='config: %s is not a regular file' % self.config_path)
        text = _read_text(self.module, self.config_path, 'config') if os.path.exists(self.config_path) else None
        config = WgConfig.parse(text or '')
        interface = config.interface()
        value = interface.last('privatekey') if interface is not None else None
        if value:
            self.module.no_log_values.add(value)
        try:
            key = canonical_key(value, 'config', secret=True) if value else None
        except WireGuardOptionError:
            self.module.fail_json(msg='config: the PrivateKey in [Interface] of %s is not a WireGuard key' % self.config_path)
        return text, config, key

    def run(self):
        check_mode = self.module.check_mode
        file_key = self._read_key_file()
        config_text, config, config_key = self._read_config()
        if file_key and config_key and file_key != config_key:
            self.module.fail_json(
                msg='config: the PrivateKey in %s differs from the key in %s; refusing to pick one, '
                    'since replacing either would cut the host off its peers' % (self.config_path, self.path))

        private = file_key or config_key
        generated = private is None
        backend = None
        public = None
        if not generated or not check_mode:
            backend = self._backend()
            if generated:
                private = backend.generate()
            public = backend.public_key(private)

        diffs = []
        changed = False
        mode_before = None
        if file_key is None:
            changed = True
            diffs.append(dict(before_header=self.path, after_header=self.path, before=dict(state='absent'),
                              after=dict(state='file', mode='0600', private_key=REDACTED)))
            if not check_mode:
                self._make_directory()
                _write(self.module, self.path, private + '\n')
        else:
            mode_before = stat.S_IMODE(os.stat(self.path).st_mode)
            if mode_before & 0o077:
                changed = True
                diffs.append(dict(before_header=self.path, after_header=self.path,
                                  before=dict(mode='%04o' % mode_before), after=dict(mode='0600')))
                if not check_mode:
                    os.chmod(self.path, 0o600)

        config_changed = False
        if config is not None and config_key is None:
            interface = config.interface() or config.add_interface()
            interface.set('PrivateKey', private or REDACTED, config.newline, first=True)
            after = config.render()
            config_changed = True
            diffs.append(dict(before_header=self.config_path, after_header=self.config_path,
                              before=redact(config_text or ''), after=redact(after)))
            if not check_mode:
                _write(self.module, self.config_path, after, 'config')
        changed = changed or config_changed

        result = dict(changed=changed, path=self.path, generated=generated, config_changed=config_changed,
                      backend=backend.name if backend else None)
        if public is not None:
            result['public_key'] = public
        if self.module._diff:
            result['diff'] = diffs
        self.module.exit_json(**result)

    def _make_directory(self):
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            previous = os.umask(0o077)
            try:
                os.makedirs(directory, 0o700)
            except OSError as exc:
                self.module.fail_json(msg='path: cannot create directory %s: %s' % (directory, to_native(exc)))
            finally:
                os.umask(previous)
