#!/usr/bin/env bash
# Installs the Debian packages the embedded lab runs inside its guests (OpenSSH, NGINX, Redis,
# PostgreSQL, a userspace NFS server and client, ifupdown, tini, sudo, nftables for the guests'
# own firewall; cron, which runs the scheduled backups; python3, whose ctypes the node stand-in's self-check uses to remove its NFS
# probe). The guests see the host's /usr read-only, so a package installed here is in every
# guest. Idempotent: it only calls apt-get when something is missing. Needs root, as the lab
# itself does.
set -euo pipefail

packages=(
  openssh-server openssh-client nginx redis-server redis-tools postgresql postgresql-client
  nfs-ganesha nfs-ganesha-vfs libnfs-utils nfs-kernel-server ifupdown tini sudo iproute2 curl
  util-linux procps python3 nftables cron
)

if [ "$(id -u)" != 0 ]; then
  echo "lab-packages: the lab needs root (network namespaces, mounts); run as root" >&2
  exit 1
fi

# Package installs must not start nginx, redis, postgres or sshd on the host itself: the lab
# starts them inside its guests. Debian's policy-rc.d convention stops the maintainer scripts.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "lab-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
