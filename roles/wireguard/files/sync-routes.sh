# shellcheck shell=sh
# Routes of a WireGuard interface brought in line with its peers' allowed IPs, as wg-quick sets
# them at start: `wg syncconf` changes peers but no routes. Run by tasks/peers.yml as
# `sh -c "<this>" sh <interface>`; prints what it changed.
# - A network no route of the interface covers gets one (a /32 inside the interface's own subnet
#   is covered by that subnet's route and gets none, as with wg-quick).
# - A route wg-quick or this script added (proto boot) that no peer's allowed IPs name any more is
#   removed. Routes the kernel made for the addresses (proto kernel) are left alone.
# - Default routes (/0) are left to wg-quick, which puts them in a table of their own at start.
dev="$1"
rc=0
wg show "$dev" >/dev/null 2>&1 || exit 0  # not up: wg-quick sets the routes when it starts
allowed=" $(wg show "$dev" allowed-ips | cut -f2 | tr ' ' '\n' | grep '/' | grep -v '/0$' | tr '\n' ' ') "
for net in $allowed; do
  case "$net" in *:*) family=-6 ;; *) family=-4 ;; esac
  if [ -z "$(ip "$family" route show dev "$dev" match "$net")" ]; then
    if ip "$family" route add "$net" dev "$dev"; then echo "added $net"; else rc=1; fi
  fi
done
for family in -4 -6; do
  for net in $(ip "$family" route show dev "$dev" proto boot | cut -d' ' -f1); do
    # ip prints a single host without its prefix length; wg prints it with.
    case "$net" in */*) full="$net" ;; *:*) full="$net/128" ;; *) full="$net/32" ;; esac
    case "$full" in */0) continue ;; esac
    case "$allowed" in *" $full "*) ;; *)
      if ip "$family" route del "$net" dev "$dev"; then echo "removed $net"; else rc=1; fi ;;
    esac
  done
done
exit "$rc"
