#!/bin/sh
# Starts FreeSWITCH with arsgate's files laid over the vanilla
# configuration: the image's own entrypoint only writes the vanilla
# configuration into an empty /etc/freeswitch, so it is written here first,
# with a random SIP password as the image would set, then arsgate's
# autoload_configs and sip_profiles (mounted at /arsgate/freeswitch) on top.
set -eu
if [ ! -f /etc/freeswitch/freeswitch.xml ]; then
    mkdir -p /etc/freeswitch
    cp -R /usr/share/freeswitch/conf/vanilla/. /etc/freeswitch/
    password=$(tr -dc A-Za-z0-9 < /dev/urandom | head -c 20)
    sed -i -e "s/default_password=[^\"]*/default_password=$password/" /etc/freeswitch/vars.xml
fi
cp -R /arsgate/freeswitch/autoload_configs/. /etc/freeswitch/autoload_configs/
cp -R /arsgate/freeswitch/sip_profiles/. /etc/freeswitch/sip_profiles/
mkdir -p /var/lib/freeswitch/recordings/arsgate
exec /docker-entrypoint.sh "$@"
