#!/usr/bin/env bash
# The real-server side of LVS direct routing, run on every nginx host behind the directors:
#
#   lvs/realserver.sh start [VIP]    # VIP on lo, ARP for it silenced (default 192.0.2.100)
#   lvs/realserver.sh stop  [VIP]    # undo both
#   lvs/realserver.sh status [VIP]
#
# In DR mode the director forwards a packet for the VIP unchanged but for its destination MAC
# address: this host must accept packets addressed to the VIP (so the VIP is on lo, as a /32 that
# routes nothing) and must never answer ARP for it, or clients and routers would send the VIP's
# traffic straight here, past the director. Then nginx answers the client from the VIP directly.
set -euo pipefail

action=${1:-}
vip=${2:-192.0.2.100}

# arp_ignore=1: answer ARP only for addresses on the interface the request came in on (the VIP is
# on lo, so never). arp_announce=2: in ARP requests this host sends, use the best local address
# of the outgoing interface, never the VIP. Set for "all" and "lo": the kernel uses the larger of
# the two values for lo.
arp() {
  sysctl -qw "net.ipv4.conf.all.arp_ignore=$1" "net.ipv4.conf.lo.arp_ignore=$1"
  sysctl -qw "net.ipv4.conf.all.arp_announce=$2" "net.ipv4.conf.lo.arp_announce=$2"
}

case "$action" in
  start)
    arp 1 2
    ip addr replace "$vip/32" dev lo
    echo "realserver: $vip on lo, ARP silenced"
    ;;
  stop)
    ip addr del "$vip/32" dev lo 2>/dev/null || true
    arp 0 0
    echo "realserver: $vip removed from lo, ARP restored"
    ;;
  status)
    ip -4 addr show dev lo | grep -q " $vip/32 " && on=yes || on=no
    echo "vip $vip on lo: $on; arp_ignore $(sysctl -n net.ipv4.conf.all.arp_ignore);" \
      "arp_announce $(sysctl -n net.ipv4.conf.all.arp_announce)"
    [ "$on" = yes ]
    ;;
  *)
    echo "usage: $0 start|stop|status [VIP]" >&2
    exit 2
    ;;
esac
