#!/usr/bin/env bash
# Make the image's base from Debian's packages, for machines that reach Debian's mirror but no
# image registry: a minimal bookworm with Python 3.11, imported into podman as
# localhost/livedesk-base:bookworm. Then build with
#   podman build --isolation chroot --build-arg BASE=localhost/livedesk-base:bookworm \
#       -f infra/docker/Dockerfile -t localhost/livedesk:dev .
# Needs root, debootstrap and podman (Debian packages).
set -euo pipefail
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=${BASE_TAG:-localhost/livedesk-base:bookworm}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror" >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$tag" >&2
echo "$tag"
