#!/bin/sh
# mkusers.sh FILE USER PASSWORD [USER PASSWORD ...]
# Writes an NCP users file (/etc/ncp-users on the volume), one line per user:
#     name:salthex:sha256(salt || password)hex[:admin]
# Write USER as name:admin to give that user the administrator flag
# (needed for `ncpc shutdown`).  Salts are 16 random bytes.
set -eu

if [ $# -lt 3 ] || [ $(( ($# - 1) % 2 )) -ne 0 ]; then
    echo "usage: $0 FILE USER[:admin] PASSWORD [USER[:admin] PASSWORD ...]" >&2
    exit 2
fi
file=$1; shift
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# NCP users: name:salthex:sha256(salt||password)hex[:admin]" >"$tmp"

while [ $# -ge 2 ]; do
    user=${1%%:*}; flag=""
    case $1 in *:admin) flag=":admin" ;; *:*) echo "$0: bad user '$1'" >&2; exit 2 ;; esac
    pass=$2; shift 2
    case $user in
        ''|*[!A-Za-z0-9._@+-]*) echo "$0: bad user name '$user'" >&2; exit 2 ;;
    esac
    if [ ${#user} -gt 32 ]; then echo "$0: user name '$user' too long" >&2; exit 2; fi
    salt=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    # Hash the salt bytes (not their hex) followed by the password bytes.
    # POSIX printf knows octal escapes only: turn each hex pair into \ooo.
    octal=$(echo "$salt" | sed 's/../& /g' | { read -r bytes
            for b in $bytes; do printf '\\%03o' "0x$b"; done; })
    hash=$( { printf "$octal"; printf '%s' "$pass"; } | sha256sum | cut -d' ' -f1)
    echo "$user:$salt:$hash$flag" >>"$tmp"
done
mv "$tmp" "$file"
trap - EXIT
