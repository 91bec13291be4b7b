#!/bin/sh
# volume-layout.sh DIR - gives a staging tree the owners and modes of a WorkToDo
# volume before scripts/mkimage.sh (mke2fs -d copies them; we run as root):
#   /                 uid 0, 1777 (like /tmp: anyone creates, only owners remove)
#   /etc              uid 0, 0755
#   /etc/ncp-users    uid 0, 0600 (holds password-equivalent hashes)
#   /home/NAME        for every user in etc/ncp-users: that user's uid and
#                     primary gid, mode 0700
#   everything else   uid 0, readable by all (files 0644, directories 0755)
set -eu
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
d=$1
chown -R 0:0 "$d"
find "$d" -type d -exec chmod 0755 {} +
find "$d" -type f -exec chmod 0644 {} +
chmod 1777 "$d"
mkdir -p "$d/etc"
chmod 0755 "$d/etc"
users=$d/etc/ncp-users
if [ -f "$users" ]; then
    chmod 0600 "$users"
    grep -v '^[#%]' "$users" | while IFS=: read -r name _salt _hash uid gid _rest; do
        [ -n "$name" ] && [ -n "$gid" ] || continue
        mkdir -p "$d/home/$name"
        chmod 0755 "$d/home"
        chown "$uid:$gid" "$d/home/$name"
        chmod 0700 "$d/home/$name"
    done
fi
