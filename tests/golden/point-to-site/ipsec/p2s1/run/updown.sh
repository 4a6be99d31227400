#!/bin/sh
# gwlab updown hook of p2s1: counts and logs its CHILD_SAs (when the client is connected).
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
echo "$(date +%s.%N) $PLUTO_VERB $PLUTO_CONNECTION $count" >>/run/updown.log
