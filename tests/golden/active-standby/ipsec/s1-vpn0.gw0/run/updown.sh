#!/bin/sh
# gwlab updown hook of s1-vpn0.gw0: the CHILD_SA's state becomes the carrier of the veth "VTI"
# r0 (never ipsec0 itself: a TUN taken down breaks the next CHILD_SA, ipsec.md §6.4).
# Counted, not toggled: a replacing SA can come up before the old one goes down.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
exec 9>>/run/updown.lock
flock 9
# The shell's own read, not cat: the hook runs at every CHILD_SA event, and every process it forks
# counts at scale (a 50-site lab has 200 ends).
{ read -r count </run/updown.count; } 2>/dev/null || count=0
case "$PLUTO_VERB" in
  up-client|up-host) count=$((count + 1)) ;;
  down-client|down-host) count=$((count - 1)); [ "$count" -lt 0 ] && count=0 ;;
  *) exit 0 ;;
esac
echo "$count" >/run/updown.count
if [ "$count" -gt 0 ]; then
  # The endpoint routes by its own tables: from the router into ipsec0, and back; charon's
  # catch-all rule 220 is not needed (ipsec.md §2a).
  ip rule del pref 220 2>/dev/null
  # One ip for the rest, each line as it would be alone (-force: a failed line does not stop the next).
  ip -force -batch - <<EOF
link set dev ipsec0 up
route replace default dev ipsec0 table 100
link set dev r0 up
neigh replace 172.30.0.5 lladdr 02:1d:68:0f:ff:f3 dev r0 nud permanent
route replace default dev r0 table 101
EOF
else
  ip link set dev r0 down
fi
echo "$(date +%s.%N) $PLUTO_VERB $PLUTO_CONNECTION $count" >>/run/updown.log
