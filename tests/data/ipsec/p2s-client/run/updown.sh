#!/bin/sh
# gwlab updown hook of p2s-alice: counts and logs its CHILD_SAs (when the client is connected).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
exec 9>>/run/updown.lock
flock 9
count=$(cat /run/updown.count 2>/dev/null || echo 0)
case "$PLUTO_VERB" in
  up-client|up-host) count=$((count + 1)) ;;
  down-client|down-host) count=$((count - 1)); [ "$count" -lt 0 ] && count=0 ;;
  *) exit 0 ;;
esac
echo "$count" >/run/updown.count
echo "$(date +%s.%N) $PLUTO_VERB $PLUTO_CONNECTION $count" >>/run/updown.log
