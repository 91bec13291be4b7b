#!/bin/sh
# mkusers.sh FILE USER[:OPTS] PASSWORD [USER[:OPTS] PASSWORD | %GROUP:GID ...]
# Writes an NCP users file (/etc/ncp-users on the volume; format in
# docs/protocol.md, "Users file"), one line per user:
#     name:salthex:sha256(salt || password)hex:uid:gid:groups:flags
# OPTS after the user name, separated by ':' and in any order:
#     admin        the administrator flag (needed for `ncpc shutdown`, chown)
#     uid=N        the user's uid      (default: 0 for an admin, else 1000, 1001, ...)
#     gid=N        the primary gid     (default: the uid, a group of the user's own,
#                                       written as a %NAME:GID line)
#     groups=A,B   supplementary gids  (default: none)
# A lone %GROUP:GID argument writes a group-name line.  Salts are 16 random
# bytes.  Examples:
#     mkusers.sh users guest guest admin:admin s3cret
#     mkusers.sh users alice:uid=1010:groups=300 pw1 %proj:300
set -eu

usage() {
    echo "usage: $0 FILE USER[:admin][:uid=N][:gid=N][:groups=A,B] PASSWORD [... | %GROUP:GID ...]" >&2
    exit 2
}
[ $# -ge 3 ] || usage
file=$1; shift
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "# NCP users: name:salthex:sha256(salt||password)hex:uid:gid:groups:flags; %group:gid" >"$tmp"

num() { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ ${#1} -le 10 ] && [ "$1" -lt 4294967295 ]; }
name_ok() {
    case $1 in ''|*[!A-Za-z0-9._@+-]*) return 1 ;; esac
    [ ${#1} -le 32 ]
}
next_uid=1000
groups_out=""
while [ $# -gt 0 ]; do
    case $1 in
    %*)
        g=${1#%}; gname=${g%%:*}; ggid=${g#*:}
        name_ok "$gname" && num "$ggid" && [ "$gname:$ggid" = "$g" ] || { echo "$0: bad group '$1'" >&2; exit 2; }
        groups_out="$groups_out%$gname:$ggid
"
        shift; continue ;;
    esac
    [ $# -ge 2 ] || usage
    spec=$1; pass=$2; shift 2
    user=${spec%%:*}; rest=${spec#"$user"}; rest=${rest#:}
    name_ok "$user" || { echo "$0: bad user name '$user'" >&2; exit 2; }
    admin=""; uid=""; gid=""; sup=""
    oldifs=$IFS; IFS=:
    for opt in $rest; do
        case $opt in
        admin) admin=admin ;;
        uid=*) uid=${opt#uid=}; num "$uid" || { echo "$0: bad uid in '$spec'" >&2; exit 2; } ;;
        gid=*) gid=${opt#gid=}; num "$gid" || { echo "$0: bad gid in '$spec'" >&2; exit 2; } ;;
        groups=*) sup=${opt#groups=}
            IFS=,; for g in $sup; do num "$g" || { echo "$0: bad groups in '$spec'" >&2; exit 2; }; done; IFS=: ;;
        *) echo "$0: bad option '$opt' in '$spec'" >&2; exit 2 ;;
        esac
    done
    IFS=$oldifs
    if [ -z "$uid" ]; then
        if [ -n "$admin" ]; then uid=0; else uid=$next_uid; next_uid=$((next_uid + 1)); fi
    fi
    if [ -z "$gid" ]; then
        gid=$uid                                   # a group of the user's own
        groups_out="$groups_out%$user:$gid
"
    fi
    salt=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    # Hash the salt bytes (not their hex) followed by the password bytes.
    # POSIX printf knows octal escapes only: turn each hex pair into \ooo.
    octal=$(echo "$salt" | sed 's/../& /g' | { read -r bytes
            for b in $bytes; do printf '\\%03o' "0x$b"; done; })
    hash=$( { printf "$octal"; printf '%s' "$pass"; } | sha256sum | cut -d' ' -f1)
    echo "$user:$salt:$hash:$uid:$gid:$sup:$admin" >>"$tmp"
done
printf '%s' "$groups_out" >>"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$file"
trap - EXIT
